"""Real files of each kind for the attachment tests: a valid PNG, a JPEG header, Office and OpenDocument packages,
a PDF. Built here so each test states exactly what lies beside its case."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

from tests.conftest import SAMPLE_CONTENT

SAMPLE_PDF = SAMPLE_CONTENT / "arnhem-oost" / "afsprakenkader-warme-verwijzing.pdf"


def png(width: int = 3, height: int = 2) -> bytes:
    """A valid RGB PNG of the given size (white pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff" * 3 * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def jpeg_header(width: int, height: int) -> bytes:
    """The start of a baseline JPEG: SOI, an APP0 (JFIF) segment, then the frame header with the size."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def office(kind: str = "docx", macro: bool = False) -> bytes:
    """A minimal Office Open XML package (docx, xlsx, pptx), optionally with a macro project."""
    part = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml", "pptx": "ppt/presentation.xml"}[kind]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        package.writestr(part, '<?xml version="1.0"?><document/>')
        if macro:
            package.writestr(part.split("/")[0] + "/vbaProject.bin", b"\x00" * 16)
    return buffer.getvalue()


def opendocument(media_type: str = "application/vnd.oasis.opendocument.text") -> bytes:
    """A minimal OpenDocument package: `mimetype` first and stored, as the standard asks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("mimetype", media_type)
        package.writestr("content.xml", '<?xml version="1.0"?><office:document-content/>')
    return buffer.getvalue()


def put(folder: Path, name: str, data: bytes) -> Path:
    """Write a file (and its folders)."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
