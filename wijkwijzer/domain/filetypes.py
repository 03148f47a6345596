"""File types a case study may carry (attachments and images): extension, media type, Dutch labels, and the
size of an image from its first bytes. Pure; `casefiles.content_matches` reads a file to check its type.

SVG is left out on purpose: it is a document that can carry script. Legacy binary Office files (.doc, .xls,
.ppt) and macro-enabled Office files are left out too: their macros cannot be told apart from harmless content.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class FileType:
    """One allowed kind of file."""

    extension: str
    media_type: str
    label: str  # in messages to editors: "de inhoud is geen Word-document"
    short: str  # next to the link on the case page: "PDF, 1,2 MB"
    image: bool = False
    inline: bool = False  # shown in the browser (PDF, images); office documents are downloaded

    @property
    def disposition(self) -> str:
        """`inline` or `attachment`, for the Content-Disposition header."""
        return "inline" if self.inline else "attachment"


_OOXML = "application/vnd.openxmlformats-officedocument."
_ODF = "application/vnd.oasis.opendocument."
TYPES: dict[str, FileType] = {t.extension: t for t in (
    FileType("pdf", "application/pdf", "PDF", "PDF", inline=True),
    FileType("png", "image/png", "PNG-afbeelding", "PNG", image=True, inline=True),
    FileType("jpg", "image/jpeg", "JPEG-afbeelding", "JPEG", image=True, inline=True),
    FileType("jpeg", "image/jpeg", "JPEG-afbeelding", "JPEG", image=True, inline=True),
    FileType("gif", "image/gif", "GIF-afbeelding", "GIF", image=True, inline=True),
    FileType("webp", "image/webp", "WebP-afbeelding", "WebP", image=True, inline=True),
    FileType("docx", _OOXML + "wordprocessingml.document", "Word-document", "Word"),
    FileType("xlsx", _OOXML + "spreadsheetml.sheet", "Excel-werkmap", "Excel"),
    FileType("pptx", _OOXML + "presentationml.presentation", "PowerPoint-presentatie", "PowerPoint"),
    FileType("odt", _ODF + "text", "OpenDocument-tekst", "ODT"),
    FileType("ods", _ODF + "spreadsheet", "OpenDocument-rekenblad", "ODS"),
    FileType("odp", _ODF + "presentation", "OpenDocument-presentatie", "ODP"),
)}
# The folder inside an Office Open XML package that says what kind of document it is.
OOXML_PART = {"docx": "word/", "xlsx": "xl/", "pptx": "ppt/"}
HEAD_BYTES = 64 * 1024  # enough for the image sizes; the zip check reads the archive's directory itself


def file_type(name: str) -> FileType | None:
    """The known type of a file name by its extension (case-insensitive), or None."""
    _, dot, extension = name.rpartition(".")
    return TYPES.get(extension.lower()) if dot else None


def describe_types(extensions: tuple[str, ...] | list[str] | set[str]) -> str:
    """'pdf, png, jpg' for error messages: what is allowed."""
    return ", ".join(sorted(extensions))


def image_size(kind: FileType, head: bytes) -> tuple[int, int] | None:
    """Width and height in pixels from the first bytes of an image (PNG, GIF, JPEG, WebP), or None."""
    try:
        if kind.extension == "png" and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        if kind.extension == "gif":
            return struct.unpack("<HH", head[6:10])
        if kind.extension == "webp":
            return _webp_size(head)
        if kind.extension in ("jpg", "jpeg"):
            return _jpeg_size(head)
    except struct.error:
        return None
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and head[20:21] == b"\x2f":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    """Walk the JPEG segments to the frame header (SOFn), which holds the size; each step skips a whole
    segment, so the walk is linear in the bytes read."""
    pos = 2
    while pos + 9 < len(head):
        if head[pos] != 0xFF:
            return None
        marker = head[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = struct.unpack(">H", head[pos + 2:pos + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", head[pos + 5:pos + 9])
            return width, height
        pos += 2 + length
    return None
