"""URL helpers shared by cleaning and identity: tracking-parameter removal and canonical form."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

TRACKING_PARAM = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|mc_cid|mc_eid|_hsenc|_hsmi|"
    r"mkt_tok|igshid|ref_src|spm|_ga|oly_anon_id|oly_enc_id|vero_id|wt_mc|wt\.mc_id)$",
    re.IGNORECASE,
)
DEFAULT_PORTS = {"http": 80, "https": 443}
SAFE_PATH = "/%:@!$&'()*+,;=-._~"


def strip_tracking(url: str) -> str:
    """Return `url` without tracking query parameters (utm_*, fbclid, gclid, mc_cid, …)."""
    if "?" not in url:  # no query
        return url
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not TRACKING_PARAM.match(k)]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept, doseq=True)))


def absolute(url: str | None, base: str | None) -> str | None:
    """Resolve `url` against `base` (item link or xml:base); None and empty stay None."""
    if not url:
        return None
    url = url.strip()
    if not base or _plain_absolute(url):
        return url
    try:
        return urljoin(base, url)
    except ValueError:
        return url


def _plain_absolute(url: str) -> bool:
    """Whether `url` is an absolute http(s) URL that urljoin returns unchanged whatever the base:
    ASCII, a host, no tab/newline, no `;` or `#`, no empty query (urljoin re-assembles it)."""
    if not url.startswith(("https://", "http://")) or not url.isascii():
        return False
    if "\t" in url or "\n" in url or "\r" in url or ";" in url or "#" in url:
        return False
    rest = url[url.index("//") + 2:]
    if not rest or rest[0] in "/?":
        return False
    query = rest.find("?")
    return query < 0 or query < len(rest) - 1


def canonical_url(url: str | None) -> str | None:
    """A comparison form of `url` for cross-feed identity.

    Scheme is dropped (http and https copies are the same page), host lower-cased without
    `www.` and default ports, tracking parameters and fragments removed, remaining query
    parameters sorted, percent-encoding normalised and a trailing slash removed.
    Returns None for anything that is not an absolute http(s) URL.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    if port and port != DEFAULT_PORTS[parts.scheme.lower()]:
        host = f"{host}:{port}"
    path = quote(unquote(parts.path), safe=SAFE_PATH) or "/"
    path = re.sub(r"/{2,}", "/", path).rstrip("/") or "/"
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING_PARAM.match(k)
    )
    return f"{host}{path}" + (f"?{urlencode(query)}" if query else "")


def display_url(url: str) -> str:
    """`url` as logs, errors and the dashboard show it: no user name or password, no query values
    (API keys and tokens travel there)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"…@{host}" if "@" in parts.netloc else host
    query = "&".join(f"{pair.partition('=')[0]}=…" for pair in parts.query.split("&") if pair)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_url(text: str, url: str) -> str:
    """`text` (an error message that may quote `url`) without `url`'s credentials and query."""
    parts = urlsplit(url)
    for secret in (parts.query, parts.netloc.rpartition("@")[0]):
        if secret:
            text = text.replace(secret, "…")
    return text
