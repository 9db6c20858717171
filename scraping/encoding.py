"""Pick the right character encoding for an Arabic page, declared or not.

Order: a byte-order mark; the HTTP ``Content-Type`` charset; a ``<meta>`` charset; otherwise strict
UTF-8, then the single-byte Arabic code pages (windows-1256, ISO-8859-6), compared by how much
Arabic they produce, with charset-normalizer as a last resort. A declared *Western* charset
(ISO-8859-1, windows-1252, ASCII: a common server default) is not trusted blindly either: when the
bytes read as Arabic in windows-1256 or ISO-8859-6 and as accented Latin gibberish in the declared
charset, the Arabic reading wins.
"""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom

ARABIC_CODEPAGES = ("cp1256", "iso8859-6")
_WESTERN_CODECS = frozenset(codecs.lookup(n).name for n in ("latin-1", "windows-1252", "ascii"))


def canonical(name: str) -> str:
    """Python's codec name for ``name`` (``windows-1256`` → ``cp1256``); the input if unknown."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name.lower()


def arabic_score(text: str) -> float:
    """How convincingly ``text`` reads as Arabic: Arabic characters minus twice the mojibake signs
    (Latin-1 accented letters, C1 controls, replacement characters), per character; 0 unless there
    are at least 10 Arabic characters and almost no mojibake."""
    good = bad = 0
    for ch in text:
        cp = ord(ch)
        if 0x0600 <= cp <= 0x06FF:
            good += 1
        elif 0x00C0 <= cp <= 0x00FF or 0x0080 <= cp <= 0x009F or cp == 0xFFFD:
            bad += 1
    if good < 10 or bad > 0.05 * good:
        return 0.0
    return (good - 2 * bad) / len(text)


def _decode(body: bytes, encoding: str) -> str | None:
    try:
        return body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _best_arabic_codepage(body: bytes) -> str | None:
    best, best_score = None, 0.0
    for enc in ARABIC_CODEPAGES:
        text = _decode(body, enc)
        if text is not None and (score := arabic_score(text)) > best_score:
            best, best_score = enc, score
    return best


def detect_encoding(body: bytes) -> str:
    """Encoding of a body that declares none: UTF-8 when valid, else the best Arabic reading."""
    if _decode(body, "utf-8") is not None:
        return "utf-8"
    best = _best_arabic_codepage(body)
    if best:
        return best
    match = from_bytes(body).best()
    return canonical(match.encoding) if match else "cp1252"


def choose_encoding(body: bytes, content_type: str | None) -> tuple[str, str]:
    """``(encoding, how)`` for a response body; ``how`` is ``bom``, ``header``, ``meta`` or ``detected``."""
    bom = read_bom(body)
    if bom[0]:
        return canonical(bom[0]), "bom"
    declared, how = http_content_type_encoding(content_type or ""), "header"
    if not declared:
        declared, how = html_body_declared_encoding(body), "meta"
    if declared:
        enc = canonical(declared)
        if enc in _WESTERN_CODECS:
            text = _decode(body, enc) or ""
            if arabic_score(text) == 0 and any(b >= 0xC0 for b in body):
                alt = _best_arabic_codepage(body)
                if alt:
                    return alt, f"{how}-corrected"
        if _decode(body[:0], enc) is not None:  # a codec Python knows
            return enc, how
    return detect_encoding(body), "detected"
