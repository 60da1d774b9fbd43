"""Evidence rules (docs/rules.md, "Evidence") and type detection from the bytes (never the client's claim)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

MB = 1024 * 1024
GB = 1024 * MB


class Kind(enum.StrEnum):
    IMAGE = "IMAGE"
    VIDEO = "VIDEO"
    DOCUMENT = "DOCUMENT"


MAX_BYTES = {Kind.IMAGE: 20 * MB, Kind.VIDEO: 500 * MB, Kind.DOCUMENT: 10 * MB}
OPENING_MAX = {Kind.IMAGE: 3, Kind.VIDEO: 1}
DISPUTE_MAX_FILES = 20
DISPUTE_MAX_BYTES = 2 * GB
# Enough bytes to tell every supported format apart.
SNIFF_BYTES = 64


@dataclass(frozen=True)
class FileType:
    content_type: str
    kind: Kind


JPEG = FileType("image/jpeg", Kind.IMAGE)
PNG = FileType("image/png", Kind.IMAGE)
WEBP = FileType("image/webp", Kind.IMAGE)
HEIC = FileType("image/heic", Kind.IMAGE)
MP4 = FileType("video/mp4", Kind.VIDEO)
QUICKTIME = FileType("video/quicktime", Kind.VIDEO)
WEBM = FileType("video/webm", Kind.VIDEO)
PDF = FileType("application/pdf", Kind.DOCUMENT)
SUPPORTED = {t.content_type: t for t in (JPEG, PNG, WEBP, HEIC, MP4, QUICKTIME, WEBM, PDF)}
# Common aliases clients send for the same formats.
ALIASES = {"image/jpg": "image/jpeg", "image/heif": "image/heic", "application/x-pdf": "application/pdf"}

_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_QT_BRANDS = {b"qt  "}
_QT_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def sniff(head: bytes) -> FileType | None:
    """The file's real type from its first bytes, or None if it is none of the accepted types."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska or WebM, told apart by DocType
        return WEBM if b"webm" in head[:SNIFF_BYTES] else None
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIC_BRANDS:
            return HEIC
        if brand in _QT_BRANDS:
            return QUICKTIME
        return MP4  # isom, iso2, mp41, mp42, avc1, dash, M4V ...: the ISO base media family
    if head[4:8] in _QT_ATOMS:
        return QUICKTIME  # classic QuickTime without an ftyp box
    return None


def declared(content_type: str) -> FileType | None:
    ct = content_type.strip().lower()
    return SUPPORTED.get(ALIASES.get(ct, ct))


def human(n: int) -> str:
    return f"{n / GB:g} GB" if n >= GB else f"{n / MB:g} MB"
