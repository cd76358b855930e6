"""Encoding decisions and recovery: own fixtures, plus the real corpus's broken documents when present."""

from __future__ import annotations

import codecs
from pathlib import Path

import feedparser
import pytest

from ingest.encoding import normalize_encoding, repair_mojibake

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "real"


def doc(title: str, declared: str | None = "utf-8") -> str:
    decl = f'<?xml version="1.0" encoding="{declared}"?>' if declared else ""
    return f'{decl}<rss version="2.0"><channel><title>{title}</title></channel></rss>'


def title_of(body: bytes) -> str:
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed.feed.title


def test_clean_utf8_is_returned_untouched():
    body = doc("Größe — 東京").encode()
    out, warnings = normalize_encoding(body, "utf-8")
    assert out is body and warnings == []


@pytest.mark.parametrize("bom_codec", ["utf-8-sig", "utf-16", "utf-32"])
def test_byte_order_mark_wins(bom_codec):
    body = doc("Ελληνικά", declared=None).encode(bom_codec)
    out, warnings = normalize_encoding(body, "iso-8859-1")
    assert not out.startswith(codecs.BOM_UTF8) and title_of(out) == "Ελληνικά" and warnings == []


def test_utf16_without_bom_sniffed_from_declaration():
    body = doc("Привет", declared="utf-16").encode("utf-16-le")
    out, _ = normalize_encoding(body, None)
    assert out.startswith(b'<?xml version="1.0" encoding="utf-8"?>') and title_of(out) == "Привет"


@pytest.mark.parametrize("declared,http", [("utf-8", None), (None, "utf-8"), (None, None)])
def test_declared_utf8_but_latin1_bytes(declared, http):
    body = doc("Notícias de São Paulo: é útil", declared).encode("cp1252")
    out, warnings = normalize_encoding(body, http)
    assert title_of(out) == "Notícias de São Paulo: é útil"
    assert len(warnings) == 1 and "cp1252" in warnings[0]


def test_http_charset_right_xml_declaration_wrong():
    body = doc("Новости", "utf-8").encode("cp1251")
    out, warnings = normalize_encoding(body, "windows-1251")
    assert title_of(out) == "Новости"
    assert warnings == ["XML declaration says utf-8 but the bytes are windows-1251; converted"]


CYRILLIC = "Новости Минска: в городе открылся новый парк, жители довольны и гуляют до вечера"


@pytest.mark.parametrize("declared,http", [(None, "ISO-8859-1"), ("windows-1252", None), ("iso-8859-1", "latin1")])
def test_a_western_label_on_cyrillic_bytes_is_doubted(declared, http):
    """Servers label everything ISO-8859-1 by default: Cyrillic read that way is all accents."""
    body = doc(CYRILLIC, declared).encode("cp1251")
    out, warnings = normalize_encoding(body, http)
    assert title_of(out) == CYRILLIC
    assert len(warnings) == 1 and "reads as cp1251; converted" in warnings[0]


@pytest.mark.parametrize("text", [
    "Les élèves français préfèrent l'été: à côté du lycée, où ça déménage",
    "Þórður og Ævar fóru í bæinn á föstudaginn með ömmu sinni og afa",
    "Größenänderungen für Straßenbahnen in München: Übergänge geöffnet",
])
def test_real_western_text_keeps_its_western_label(text):
    out, warnings = normalize_encoding(doc(text, "iso-8859-1").encode("iso-8859-1"), "ISO-8859-1")
    assert title_of(out) == text and warnings == []


def test_declared_legacy_but_bytes_are_utf8():
    body = doc("日本語のニュース", "euc-jp").encode()
    out, warnings = normalize_encoding(body, None)
    assert title_of(out) == "日本語のニュース"
    assert warnings == ["XML declaration says euc-jp but the bytes are UTF-8; read as UTF-8"]


def test_double_encoded_utf8_repaired():
    mojibake = "Яндекс.Новости: Москва".encode().decode("latin-1")
    body = doc(mojibake).encode()
    out, warnings = normalize_encoding(body, None)
    assert title_of(out) == "Яндекс.Новости: Москва"
    assert warnings and "mojibake" in warnings[0]


def test_real_latin1_text_is_not_mistaken_for_mojibake():
    for text in ("Crème brûlée à la française", "ÀÉÎ©® ÂÃ±x", "Ã©Ã", "one cafÃ© only"):
        assert repair_mojibake(text) == (text, 0)


def test_control_characters_and_leading_blank_lines_removed():
    body = b"\n\n  " + doc("bad \x02placeholder\x03 text").encode()
    out, warnings = normalize_encoding(body, None)
    assert title_of(out) == "bad placeholder text"
    assert warnings == ["removed 2 control characters that XML forbids",
                        "removed blank space before the XML declaration"]


def test_json_feed_left_alone():
    body = b'{"version": "https://jsonfeed.org/version/1.1", "title": "caf\xc3\xa9"}'
    assert normalize_encoding(body, "utf-8") == (body, [])


def test_garbage_never_raises():
    for body in (b"", b"\xff\xfe\xfd", bytes(range(256)) * 4, b"<?xml encoding='no-such-codec'?><x/>"):
        out, _ = normalize_encoding(body, "bogus-charset")
        assert isinstance(out, bytes)
        out.decode("utf-8")
        out.decode("utf-8")


BROKEN = {
    "broken-pt-uol_declared-utf8-is-latin1.xml": "Últimas Notícias",
    "broken-xx-no-encoding-decl-latin1.xml": "Flux RSS du magazine de psychologie Le Cercle Psy",
    "broken-en-eliot-jones_declared-utf16.xml": "Eliot Jones",
    "broken-ru-yandex_mojibake.xml": "Яндекс.Новости: Москва",
    "broken-wordpress-en-androidauthority_blank-lines.xml": "Android Authority",
    "broken-en-stackoverflow-atom_control-chars.xml": "Active questions tagged nmea - Stack Overflow",
}


@pytest.mark.parametrize("name,expected", BROKEN.items())
def test_real_broken_documents_recovered(name, expected):
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"real corpus not present at {CORPUS}")
    out, warnings = normalize_encoding(path.read_bytes(), None)
    parsed = feedparser.parse(out)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert expected in (parsed.feed.get("title", "") + " " + parsed.feed.get("subtitle", ""))
    assert warnings


def test_real_corpus_never_crashes_and_always_yields_utf8():
    files = sorted(CORPUS.glob("*.xml")) + sorted(CORPUS.glob("*.json"))
    if not files:
        pytest.skip(f"real corpus not present at {CORPUS}")
    for path in files:
        out, _ = normalize_encoding(path.read_bytes(), None)
        out.decode("utf-8")
        assert "CharacterEncoding" not in type(feedparser.parse(out).get("bozo_exception")).__name__, path.name
