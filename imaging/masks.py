"""Label masks: read the formats teams and data stewards write, keep one canonical stored form.

`read_mask(data, name, expected_shape=...)` decodes a mask file held in memory, by its name's
extension:

- `.png`: 8- or 16-bit grayscale, or 8-bit palette (the palette index is the label), not
  interlaced; the array is (rows, columns).
- `.npy`: a plain numpy array of integers, booleans or floats (no pickles, no structured types).
- `.nii` / `.nii.gz`: a NIfTI-1 single file (`n+1`), unscaled. Its voxel grid (i, j, k) is read
  as the array [k, j, i] = (frames, rows, columns), the order SimpleITK's `GetArrayFromImage`
  gives; trailing dimensions of size 1 are dropped; the affine is not applied.

Checks, in this order; the first broken one raises `MaskRejected(rule)`: the header; the shape
against `expected_shape` (before any pixel data is decompressed, so no file can inflate past
the case image's size); the pixel data's length; NaN or Infinity; whole numbers. `check_labels`
then checks the values against a label set of `n` labels (0..n-1). Rules are short categorical
phrases (translated with gettext) that never quote a value from the file, so a team may see them
on a hidden phase. The participant client keeps a numpy-free copy of these rules
(client/enclave_client/masks.py); tests/client/test_policy_parity.py holds the two together.

`mask_shape(rows, columns, frames)` and `mask_shape_of_image(data, kind)` give the shape a mask of
an image must have: (rows, columns), or (frames, rows, columns) for a multi-frame image.

`encode_mask` / `decode_mask`: the canonical stored form, a gzip'd `.npy` of uint8 or uint16
holding nothing but the labels (metadata of the uploaded file never survives).
"""

from __future__ import annotations

import ast
import gzip
import io
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from imaging.mask_nifti import GunzipReader, PlainReader, read_nifti
from imaging.mask_rules import MaskRejected, rules

__all__ = ["MASK_EXTENSIONS", "MaskRejected", "check_labels", "decode_mask", "encode_mask",
           "mask_shape", "mask_shape_of_image", "mask_stem", "read_mask", "rules"]

MASK_EXTENSIONS = (".png", ".npy", ".nii.gz", ".nii")
STORED_KIND = "npy.gz"
MAX_LABELS = 65536
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NPY_MAGIC = b"\x93NUMPY"
MAX_NPY_HEADER = 65536
# .npy descr -> (numpy dtype string); bytes order is explicit ('<' little, '>' big, '|' none)
NPY_TYPES = frozenset(
    {"|b1", "|u1", "|i1"}
    | {f"{order}{kind}{size}" for order in "<>" for kind in "ui" for size in (2, 4, 8)}
    | {f"{order}f{size}" for order in "<>" for size in (4, 8)}
)



def mask_stem(name: str) -> str | None:
    """The case id a mask file's name gives (`lp-001.nii.gz` -> `lp-001`), or None."""
    lowered = name.lower()
    for extension in MASK_EXTENSIONS:
        if lowered.endswith(extension) and len(name) > len(extension):
            return name[: -len(extension)]
    return None


def read_mask(data: bytes, name: str, *, expected_shape: Sequence[int]) -> np.ndarray:
    """The mask in `data` (a file called `name`) as an array of `expected_shape`."""
    lowered = name.lower()
    expected = tuple(int(n) for n in expected_shape)
    if lowered.endswith(".png"):
        mask = _read_png(data, expected)
    elif lowered.endswith(".npy"):
        mask = _read_npy(data, expected)
    elif lowered.endswith(".nii.gz"):
        mask = read_nifti(GunzipReader.of(data), expected)
    elif lowered.endswith(".nii"):
        mask = read_nifti(PlainReader(data), expected)
    else:
        raise MaskRejected("format")
    return _whole_numbers(mask)


def check_labels(mask: np.ndarray, n_labels: int) -> None:
    """Every value is a label of a set of `n_labels` (0..n_labels-1)."""
    if mask.size and (int(mask.min()) < 0 or int(mask.max()) >= n_labels):
        raise MaskRejected("labels")


def _whole_numbers(mask: np.ndarray) -> np.ndarray:
    if mask.dtype.kind == "f":
        if not np.isfinite(mask).all():
            raise MaskRejected("non_finite")
        if not (mask == np.floor(mask)).all():
            raise MaskRejected("whole")
    return mask


# --- PNG --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PngHeader:
    width: int
    height: int
    depth: int
    colour: int
    idat: bytes


def png_header(data: bytes) -> PngHeader:
    """Walk the chunks (lengths, CRCs, IHDR first, IEND last) and check the image kind."""
    if not data.startswith(PNG_SIGNATURE):
        raise MaskRejected("png")
    offset, chunks, idat = len(PNG_SIGNATURE), [], []
    while True:
        if offset + 12 > len(data):
            raise MaskRejected("png")
        length, kind = struct.unpack_from(">L4s", data, offset)
        body = data[offset + 8: offset + 8 + length]
        if len(body) != length or offset + 12 + length > len(data):
            raise MaskRejected("png")
        (crc,) = struct.unpack_from(">L", data, offset + 8 + length)
        if zlib.crc32(kind + body) != crc:
            raise MaskRejected("png")
        chunks.append((kind, body))
        if kind == b"IDAT":
            idat.append(body)
        offset += 12 + length
        if kind == b"IEND":
            break
    if chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13 or not idat:
        raise MaskRejected("png")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">LLBBBBB", chunks[0][1])
    if width == 0 or height == 0 or compression or filtering:
        raise MaskRejected("png")
    if interlace or (colour, depth) not in ((0, 8), (0, 16), (3, 8)):
        raise MaskRejected("png_kind")
    if colour == 3 and not any(kind == b"PLTE" for kind, _body in chunks):
        raise MaskRejected("png")
    return PngHeader(width, height, depth, colour, b"".join(idat))


def png_scanlines(header: PngHeader) -> bytes:
    """The IDAT stream inflated: exactly height x (1 + width x bytes per pixel) bytes."""
    expected = header.height * (1 + header.width * header.depth // 8)
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(header.idat, expected + 1)
    except zlib.error as exc:
        raise MaskRejected("png") from exc
    if len(raw) != expected or not inflater.eof or inflater.unused_data:
        raise MaskRejected("png")
    if any(raw[row * (len(raw) // header.height)] > 4 for row in range(header.height)):
        raise MaskRejected("png")  # an unknown filter type
    return raw


def _read_png(data: bytes, expected: tuple[int, ...]) -> np.ndarray:
    header = png_header(data)
    if (header.height, header.width) != expected:
        raise MaskRejected("shape")
    png_scanlines(header)
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.load()
            mask = np.asarray(image)
    except (OSError, ValueError, SyntaxError, struct.error, Image.DecompressionBombError) as exc:
        raise MaskRejected("png") from exc
    if mask.shape != expected:
        raise MaskRejected("png")
    return mask


# --- .npy -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NpyHeader:
    descr: str
    fortran_order: bool
    shape: tuple[int, ...]
    offset: int


def npy_header(data: bytes) -> NpyHeader:
    """Parse a .npy header without numpy (the client has the same code)."""
    if not data.startswith(NPY_MAGIC) or len(data) < 10:
        raise MaskRejected("npy")
    major = data[6]
    if major == 1:
        (size,), start = struct.unpack_from("<H", data, 8), 10
    elif major in (2, 3) and len(data) >= 12:
        (size,), start = struct.unpack_from("<L", data, 8), 12
    else:
        raise MaskRejected("npy")
    if size > MAX_NPY_HEADER or start + size > len(data):
        raise MaskRejected("npy")
    try:
        text = data[start: start + size].decode("latin-1" if major < 3 else "utf-8")
        fields = ast.literal_eval(text)
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError) as exc:
        raise MaskRejected("npy") from exc
    if not isinstance(fields, dict) or set(fields) != {"descr", "fortran_order", "shape"}:
        raise MaskRejected("npy")
    shape, order, descr = fields["shape"], fields["fortran_order"], fields["descr"]
    if not isinstance(shape, tuple) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise MaskRejected("npy")
    if not isinstance(order, bool) or not isinstance(descr, str):
        raise MaskRejected("npy")
    if descr not in NPY_TYPES:
        raise MaskRejected("npy_type")
    return NpyHeader(descr, order, shape, start + size)


def _read_npy(data: bytes, expected: tuple[int, ...]) -> np.ndarray:
    header = npy_header(data)
    if header.shape != expected:
        raise MaskRejected("shape")
    dtype = np.dtype(header.descr)
    count = math.prod(expected)
    if len(data) - header.offset != count * dtype.itemsize:
        raise MaskRejected("length")
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=header.offset)
    if header.fortran_order:
        return flat.reshape(expected[::-1]).T
    return flat.reshape(expected)


# --- the shape of a case image's mask -------------------------------------------------------


def mask_shape(rows: int, columns: int, frames: int = 1) -> tuple[int, ...]:
    return (frames, rows, columns) if frames > 1 else (rows, columns)


def mask_shape_of_image(data: bytes, kind: str) -> tuple[int, ...]:
    """From a stored (de-identified) image's header: DICOM Rows/Columns/NumberOfFrames, or a
    PNG/JPEG's size. Raises ValueError when the header cannot be read."""
    if kind == "dicom":
        from pydicom import dcmread

        try:
            ds = dcmread(io.BytesIO(data), stop_before_pixels=True)
            return mask_shape(int(ds.Rows), int(ds.Columns), int(ds.get("NumberOfFrames") or 1))
        except Exception as exc:  # a damaged header: no shape, never a crash
            raise ValueError("the image header cannot be read") from exc
    from imaging.errors import ImageFileRejected
    from imaging.raster import open_raster

    try:
        with open_raster(data, kind) as image:
            return mask_shape(image.height, image.width)
    except ImageFileRejected as exc:
        raise ValueError("the image cannot be read") from exc


# --- the stored form --------------------------------------------------------------------------


def encode_mask(mask: np.ndarray) -> bytes:
    """The canonical stored bytes: a gzip'd .npy of uint8 (uint16 beyond 255 labels)."""
    dtype = np.uint8 if mask.size == 0 or int(mask.max()) < 256 else np.uint16
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(mask, dtype=dtype), allow_pickle=False)
    return gzip.compress(buffer.getvalue(), compresslevel=6, mtime=0)


def decode_mask(data: bytes) -> np.ndarray:
    """An array written by `encode_mask` (platform-internal bytes, checked by SHA-256)."""
    return np.load(io.BytesIO(gzip.decompress(data)), allow_pickle=False)
