"""PNG and JPEG intake: open safely with Pillow, then re-encode the pixels alone as a clean PNG.

Contract: `open_raster` is the only way `imaging` opens a PNG/JPEG (Pillow restricted to that one
format, at most 16384 pixels a side and below Pillow's decompression-bomb limit, fully decoded so a
truncated file fails here). `deidentify_raster` applies the EXIF orientation (so the picture looks
as it did), then builds a new image from the decoded pixels only: EXIF (GPS included), XMP, IPTC,
ICC profiles, comments and PNG text/time/physical-size chunks are all gone. The written PNG is
checked to hold only IHDR, PLTE, tRNS, IDAT and IEND chunks. JPEG input becomes PNG output
(lossless from the decoded pixels; the file grows).
"""

import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageOps

from imaging.errors import ImageFileRejected

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
MAX_SIDE = 16384
PNG_COMPRESS_LEVEL = 4
SAFE_PNG_CHUNKS = frozenset({b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"})
_PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG"}
_PNG_MODES = frozenset({"1", "L", "LA", "I;16", "I;16B", "P", "RGB", "RGBA"})
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class RasterOutput:
    data: bytes
    rows: int
    columns: int
    actions: dict


def raster_kind(data: bytes) -> str | None:
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(JPEG_SIGNATURE):
        return "jpeg"
    return None


@contextmanager
def open_raster(data: bytes, kind: str) -> Iterator[Image.Image]:
    """Open, size-check and decode a PNG/JPEG; every failure is an ImageFileRejected."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(BytesIO(data), formats=[_PIL_FORMAT[kind]])
    except Image.DecompressionBombError as exc:
        raise ImageFileRejected("too_large") from exc
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise ImageFileRejected("unreadable") from exc  # the signature matched: a damaged file
    with image:
        width, height = image.size
        if width > MAX_SIDE or height > MAX_SIDE:
            raise ImageFileRejected("too_large")
        if width == 0 or height == 0:
            raise ImageFileRejected("no_pixels")
        try:
            image.load()
        except (OSError, SyntaxError, ValueError, struct.error) as exc:
            raise ImageFileRejected("unreadable") from exc
        yield image


def png_chunk_types(data: bytes) -> list[bytes]:
    types, offset = [], len(PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length, chunk_type = struct.unpack_from(">L4s", data, offset)
        types.append(chunk_type)
        offset += 12 + length
    return types


def _pixels_only(image: Image.Image) -> Image.Image:
    if image.mode == "I":  # 16-bit grayscale decoded as 32-bit: PNG stores 16 bits
        image = image.convert("I;16")
    elif image.mode not in _PNG_MODES:
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    if image.mode == "P" and image.palette is not None:
        clean.putpalette(image.palette.tobytes(), image.palette.mode)
    return clean


def deidentify_raster(data: bytes, kind: str) -> RasterOutput:
    with open_raster(data, kind) as image:
        oriented = image.getexif().get(_EXIF_ORIENTATION, 1) not in (1, None)
        source = ImageOps.exif_transpose(image) if oriented else image
        removed = {
            "metadata_entries_removed": len(image.info),
            "exif_removed": bool(image.info.get("exif")) or len(image.getexif()) > 0,
            "icc_profile_removed": bool(image.info.get("icc_profile")),
        }
        clean = _pixels_only(source)
    buffer = BytesIO()
    clean.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    output = buffer.getvalue()
    if not set(png_chunk_types(output)) <= SAFE_PNG_CHUNKS:
        raise ImageFileRejected("leak_detected")
    actions = {
        "source_kind": kind,
        "output": "png re-encoded from decoded pixels",
        **removed,
        "exif_orientation_applied": oriented,
        "mode": clean.mode,
    }
    return RasterOutput(output, clean.height, clean.width, actions)
