"""Decide a feed body's text encoding and hand the parser clean UTF-8.

Order of evidence: a byte-order mark; valid UTF-8 (bytes in a legacy encoding are almost never
valid UTF-8, so a wrong declaration is caught); the HTTP charset and the XML declaration; mostly
valid UTF-8 with a few bad bytes; finally statistical detection (charset-normalizer). The result
is always UTF-8 without BOM, with the XML declaration saying so. Each repair adds a warning
instead of silently publishing mojibake: wrong declarations, double-encoded UTF-8, control
characters that XML forbids, blank lines before the declaration.
"""

from __future__ import annotations

import codecs
import contextlib
import re

import charset_normalizer

UTF8 = "utf-8"
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, UTF8),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Labels that browsers (WHATWG) read as a superset encoding.
SUPERSETS = {
    "ascii": "cp1252", "iso8859-1": "cp1252", "latin-1": "cp1252", "gb2312": "gb18030", "gbk": "gb18030",
    "shift_jis": "cp932", "euc_kr": "cp949", "iso8859-9": "cp1254", "tis-620": "cp874",
}
PREFERRED_DETECTED = ("cp1252", "cp1251", "iso8859_15")
# Legacy encodings that occur on the web (WHATWG encoding standard); detection picks among these.
WEB_ENCODINGS = [
    "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258", "cp874",
    "iso8859_2", "iso8859_4", "iso8859_5", "iso8859_7", "iso8859_8", "iso8859_13", "iso8859_15",
    "koi8_r", "koi8_u", "mac_cyrillic", "gb18030", "big5", "euc_jp", "iso2022_jp", "shift_jis", "euc_kr",
]
_DECLARATION = re.compile(r"\A(\s*)(<\?xml\b[^>]*?\?>)")
_DECLARED_BYTES = re.compile(rb"\A\s*<\?xml\b[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
_ENCODING_ATTR = re.compile(r"""encoding\s*=\s*(["'])[^"']*\1""")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_JSON = re.compile(r"\s*[{\[]")
_WESTERN = {"cp1252", "iso8859-15", "iso8859_15"}  # after SUPERSETS: ISO-8859-1 and ASCII read as cp1252
_ACCENTED = re.compile("[\u00c0-\u00ff]")
_ASCII_LETTERS = re.compile("[A-Za-z]")
_SAMPLE = 1 << 16
_JSON_BYTES = re.compile(rb"\s*[{\[]")


def _cp1252_byte_map() -> dict[str, int]:
    mapping = {chr(b): b for b in range(0x80, 0x100)}
    for b in range(0x80, 0xA0):
        with contextlib.suppress(UnicodeDecodeError):
            mapping[bytes([b]).decode("cp1252")] = b
    return mapping


_AS_BYTE = _cp1252_byte_map()
_CONT = "[" + re.escape("".join(c for c, b in _AS_BYTE.items() if 0x80 <= b <= 0xBF)) + "]"
_HIGH = "[" + re.escape("".join(_AS_BYTE)) + "]"
_SEQUENCE = f"[\u00c2-\u00df]{_CONT}|[\u00e0-\u00ef]{_CONT}{{2}}|[\u00f0-\u00f4]{_CONT}{{3}}"
# A run of UTF-8 sequences read as cp1252, not touching other such characters (real Latin-1 text).
_MOJIBAKE = re.compile(f"(?<!{_HIGH})(?:{_SEQUENCE})+(?!{_HIGH})")
# Every match of _MOJIBAKE starts with a lead and a continuation; searching for that pair first
# is ~10x cheaper than the full pattern on text that has none (most feeds).
_MOJIBAKE_START = re.compile(f"[\u00c2-\u00f4]{_CONT}")


def codec_name(label: str | None) -> str | None:
    """Python's codec name for a charset label (None if unknown)."""
    if not label:
        return None
    try:
        return codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None


def _is_utf8(name: str | None) -> bool:
    return name in ("utf-8", "utf-8-sig")


def _ascii_compatible(name: str) -> bool:
    try:
        return "<?xml".encode(name) == b"<?xml"
    except (LookupError, UnicodeError):
        return False


def _sniff_utf16(body: bytes) -> str | None:
    if body.startswith(b"<\x00?\x00"):
        return "utf-16-le"
    if body.startswith(b"\x00<\x00?"):
        return "utf-16-be"
    return None


def _try_decode(body: bytes, name: str) -> str | None:
    try:
        return body.decode(SUPERSETS.get(name, name))
    except (UnicodeDecodeError, LookupError):
        return None


def _detect(body: bytes) -> str | None:
    results = [r for r in charset_normalizer.from_bytes(body, cp_isolation=WEB_ENCODINGS) if not _is_utf8(codec_name(r.encoding))]
    if not results:
        return None
    best = results[0]
    close = [r.encoding for r in results
             if r.chaos <= best.chaos + 0.01 and r.coherence >= best.coherence - 0.01]
    return next((name for name in PREFERRED_DETECTED if name in close), best.encoding)


def _doubtful_western(name: str, text: str) -> bool:
    """Whether text decoded with a Western single-byte label (servers send "ISO-8859-1" by
    default, whatever the bytes) has far more accented letters than Western text ever does:
    Cyrillic or Greek bytes read as Latin-1 come out as runs of them ("Íîâîñòè")."""
    if SUPERSETS.get(name, name) not in _WESTERN:
        return False
    sample = text[:_SAMPLE]
    accented = len(_ACCENTED.findall(sample))
    return accented >= 20 and accented > 0.3 * (accented + len(_ASCII_LETTERS.findall(sample)))


def _mostly_utf8(body: bytes) -> str | None:
    text = body.decode(UTF8, errors="replace")
    bad = text.count("\ufffd") - body.count("\ufffd".encode())
    good = sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd")
    return text if good >= 4 * bad else None


def repair_mojibake(text: str) -> tuple[str, int]:
    """Undo UTF-8 text that was decoded as cp1252/Latin-1 and encoded again; returns (text, repairs)."""
    if not _MOJIBAKE_START.search(text):
        return text, 0
    repairs = 0

    def fix(match: re.Match[str]) -> str:
        nonlocal repairs
        try:
            fixed = bytes(_AS_BYTE[ch] for ch in match.group()).decode(UTF8)
        except UnicodeDecodeError:
            return match.group()
        repairs += 1
        return fixed

    repaired = _MOJIBAKE.sub(fix, text)
    return (repaired, repairs) if repairs >= 2 else (text, 0)


def _label(name: str) -> str:
    return name.replace("_", "-")


def _decode(body: bytes, http_charset: str | None, warnings: list[str]) -> str | None:
    """Text of `body`, or None when the bytes are already UTF-8 needing no repair."""
    for bom, name in BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(name, errors="replace")
    if sniffed := _sniff_utf16(body):
        return body.decode(sniffed, errors="replace")
    found = _DECLARED_BYTES.match(body)
    declared = [(source, label, codec_name(label)) for source, label in
                (("HTTP charset", http_charset), ("XML declaration", found and found.group(1).decode()))
                if label]
    try:
        text = body.decode(UTF8)
    except UnicodeDecodeError:
        text = None
    if text is not None:
        for source, label, name in declared:
            if not _is_utf8(name) and not (body.isascii() and name and _ascii_compatible(name)):
                warnings.append(f"{source} says {label} but the bytes are UTF-8; read as UTF-8")
        repaired, repairs = repair_mojibake(text)
        if repairs:
            warnings.append(f"repaired {repairs} double-encoded UTF-8 sequences (mojibake)")
            return repaired
        return None
    for source, label, name in declared:
        if name and not _is_utf8(name) and (decoded := _try_decode(body, name)) is not None:
            if _doubtful_western(name, decoded) and (detected := _detect(body)) and \
                    SUPERSETS.get(detected, detected) not in _WESTERN:
                warnings.append(f"{source} says {label} but the text reads as {_label(detected)}; converted")
                return body.decode(SUPERSETS.get(detected, detected), errors="replace")
            wrong = [f"{source} says {other}" for source, other, n in declared if _is_utf8(n)]
            if wrong:
                warnings.append(f"{', '.join(wrong)} but the bytes are {label}; converted")
            return decoded
    if (decoded := _mostly_utf8(body)) is not None:
        warnings.append("invalid UTF-8 byte sequences replaced with U+FFFD")
        return decoded
    detected = _detect(body) or "cp1252"
    claim = ", ".join(f"{source} says {label}" for source, label, _ in declared) or "no charset declared"
    warnings.append(f"{claim} but the bytes are not valid UTF-8; detected {_label(detected)} and converted")
    return body.decode(SUPERSETS.get(detected, detected), errors="replace")


def _clean_xml(text: str, warnings: list[str]) -> str:
    if _JSON.match(text):
        return text
    text, removed = _CONTROL.subn("", text)
    if removed:
        warnings.append(f"removed {removed} control characters that XML forbids")
    declaration = _DECLARATION.match(text)
    if declaration:
        if declaration.group(1):
            warnings.append("removed blank space before the XML declaration")
        fixed = _ENCODING_ATTR.sub('encoding="utf-8"', declaration.group(2))
        text = fixed + text[declaration.end():]
    return text


def normalize_encoding(body: bytes, http_charset: str | None) -> tuple[bytes, list[str]]:
    """UTF-8 bytes for `body` and warnings; never raises.

    The returned bytes carry no BOM and their XML declaration (if any) says utf-8, so a parser
    reading them needs no other charset information (ignore the HTTP charset from then on).
    """
    warnings: list[str] = []
    text = _decode(body, http_charset, warnings)
    if text is None:
        declared = _DECLARED_BYTES.match(body)
        needs_fix = (
            (not _JSON_BYTES.match(body) and _CONTROL_BYTES.search(body))
            or body[:1].isspace()
            or (declared and not _is_utf8(codec_name(declared.group(1).decode())))
        )
        if not needs_fix:
            return body, warnings
        text = body.decode(UTF8)
    return _clean_xml(text, warnings).encode(UTF8), warnings
