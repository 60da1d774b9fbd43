"""Type detection from the bytes: every accepted format, and look-alikes that must be refused."""

from __future__ import annotations

import pytest

from evidence_svc.rules import HEIC, JPEG, MP4, PDF, PNG, QUICKTIME, WEBM, WEBP, FileType, declared, sniff

SAMPLES: dict[str, tuple[bytes, FileType | None]] = {
    "jpeg": (b"\xff\xd8\xff\xe1\x00\x18Exif\x00\x00", JPEG),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", PNG),
    "webp": (b"RIFF\x24\x00\x00\x00WEBPVP8 ", WEBP),
    "heic": (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", HEIC),
    "heif-mif1": (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic", HEIC),
    "mp4": (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41", MP4),
    "m4v": (b"\x00\x00\x00\x1cftypM4V \x00\x00\x00\x01M4V M4A mp42", MP4),
    "quicktime-ftyp": (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ", QUICKTIME),
    "quicktime-moov": (b"\x00\x00\x06\x2emoov\x00\x00\x00\x6cmvhd", QUICKTIME),
    "webm": (
        b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm",
        WEBM,
    ),
    "matroska-not-webm": (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", None),
    "pdf": (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3", PDF),
    "riff-wav": (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
    "gif": (b"GIF89a\x01\x00\x01\x00", None),
    "zip": (b"PK\x03\x04\x14\x00\x00\x00", None),
    "text": (b"hello, this is not a photo", None),
    "empty": (b"", None),
}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_sniff(name: str) -> None:
    head, expected = SAMPLES[name]
    assert sniff(head) == expected


def test_declared_types_and_aliases() -> None:
    assert declared("image/JPEG") == JPEG
    assert declared(" image/jpg ") == JPEG
    assert declared("image/heif") == HEIC
    assert declared("video/quicktime") == QUICKTIME
    assert declared("application/zip") is None
    assert declared("") is None
