"""Judge a segmentation mask file as the platform does, without numpy or Pillow.

Mirrors the server's `imaging.masks` (read by `sandbox.outputs.read_mask_output`): `.png` (8- or
16-bit grayscale or 8-bit palette, not interlaced), `.npy` (integers, booleans or floats; no
pickles), `.nii` / `.nii.gz` (NIfTI-1 single file, unscaled; the voxel grid (i, j, k) is the
array [k, j, i]). Checks in the server's order: the header, the shape against the case's
(before inflating any pixel data), the data's length, NaN or Infinity, whole numbers, then the
label values (0..n_labels-1). The rules are the server's English phrases;
tests/client/test_policy_parity.py on the server compares both sides on the same files.
"""

from __future__ import annotations

import array
import ast
import math
import struct
import sys
import zlib
from collections.abc import Iterable, Sequence

MASK_EXTENSIONS = (".png", ".npy", ".nii.gz", ".nii")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NPY_MAGIC = b"\x93NUMPY"
MAX_NPY_HEADER = 65536
NIFTI_HEADER = 348
MAX_VOX_OFFSET = 1024 * 1024
NPY_TYPES = frozenset(
    {"|b1", "|u1", "|i1"}
    | {f"{order}{kind}{size}" for order in "<>" for kind in "ui" for size in (2, 4, 8)}
    | {f"{order}f{size}" for order in "<>" for size in (4, 8)}
)
NIFTI_TYPES = {2: ("u1", 8), 4: ("i2", 16), 8: ("i4", 32), 16: ("f4", 32), 64: ("f8", 64),
               256: ("i1", 8), 512: ("u2", 16), 768: ("u4", 32), 1024: ("i8", 64),
               1280: ("u8", 64)}
# numpy kind + size -> array typecode
_TYPECODES = {"u1": "B", "i1": "b", "b1": "B", "u2": "H", "i2": "h", "u4": "I", "i4": "i",
              "u8": "Q", "i8": "q", "f4": "f", "f8": "d"}

RULES = {
    "format": "masks must be .png, .npy, .nii or .nii.gz files",
    "png": "not a valid PNG",
    "png_kind": "PNG masks must be 8- or 16-bit grayscale or 8-bit palette images, "
                "not interlaced",
    "npy": "not a valid .npy array",
    "npy_type": ".npy masks must hold integer, boolean or float numbers",
    "nifti": "not a NIfTI-1 single file",
    "gzip": "not valid gzip",
    "nifti_type": "NIfTI masks must hold integer or float numbers",
    "nifti_scaled": "NIfTI masks must not be scaled (scl_slope, scl_inter)",
    "length": "the mask's pixel data is truncated or has trailing bytes",
    "shape": "a mask's shape differs from its case image",
    "non_finite": "NaN or Infinity in a mask",
    "whole": "mask values must be whole numbers",
    "labels": "a mask holds a label value outside the label set",
}


class MaskRejected(ValueError):
    def __init__(self, name: str) -> None:
        self.name = name
        self.rule = RULES[name]
        super().__init__(self.rule)


def check_mask(data: bytes, name: str, *, expected_shape: Sequence[int], n_labels: int) -> None:
    """Raise MaskRejected(rule) unless `data` (a file called `name`) is a valid mask."""
    lowered = name.lower()
    expected = tuple(int(n) for n in expected_shape)
    if lowered.endswith(".png"):
        kind, values = _png_values(data, expected)
    elif lowered.endswith(".npy"):
        kind, values = _npy_values(data, expected)
    elif lowered.endswith(".nii.gz"):
        kind, values = _nifti_values(_GunzipReader(data), expected)
    elif lowered.endswith(".nii"):
        kind, values = _nifti_values(_PlainReader(data), expected)
    else:
        raise MaskRejected("format")
    _check_values(kind, values, n_labels)


def _check_values(kind: str, values: Sequence[float] | bytes, n_labels: int) -> None:
    if not len(values):
        return
    if kind.startswith("f"):
        for value in values:
            if not math.isfinite(value):
                raise MaskRejected("non_finite")
        for value in values:
            if not float(value).is_integer():
                raise MaskRejected("whole")
    if min(values) < 0 or max(values) >= n_labels:
        raise MaskRejected("labels")


_BOOLEAN = bytes([0] + [1] * 255)  # numpy reads any non-zero byte of a bool array as True


def _typed(kind: str, order: str, raw: bytes) -> Sequence[float] | bytes:
    if kind == "b1":
        return raw.translate(_BOOLEAN)
    if kind == "u1":
        return raw
    values = array.array(_TYPECODES[kind])
    values.frombytes(raw)
    if (order == "<") != (sys.byteorder == "little") and values.itemsize > 1:
        values.byteswap()
    return values


# --- PNG --------------------------------------------------------------------------------------


def _png_values(data: bytes, expected: tuple[int, ...]) -> tuple[str, Sequence[float] | bytes]:
    if not data.startswith(PNG_SIGNATURE):
        raise MaskRejected("png")
    offset = len(PNG_SIGNATURE)
    chunks: list[tuple[bytes, bytes]] = []
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
        offset += 12 + length
        if kind == b"IEND":
            break
    idat = [body for kind, body in chunks if kind == b"IDAT"]
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
    if (height, width) != expected:
        raise MaskRejected("shape")
    step = depth // 8
    stride = width * step
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(b"".join(idat), height * (1 + stride) + 1)
    except zlib.error as exc:
        raise MaskRejected("png") from exc
    if len(raw) != height * (1 + stride) or not inflater.eof or inflater.unused_data:
        raise MaskRejected("png")
    pixels = _unfilter(raw, height, stride, step)
    return ("u2", _typed("u2", ">", pixels)) if depth == 16 else ("u1", pixels)


def _unfilter(raw: bytes, height: int, stride: int, step: int) -> bytes:
    """Undo PNG's per-row filters (None, Sub, Up, Average, Paeth)."""
    out = bytearray(height * stride)
    previous = bytearray(stride)
    for row in range(height):
        start = row * (1 + stride)
        kind = raw[start]
        line = bytearray(raw[start + 1: start + 1 + stride])
        if kind == 1:
            for i in range(step, stride):
                line[i] = (line[i] + line[i - step]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - step] if i >= step else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - step] if i >= step else 0
                b = previous[i]
                c = previous[i - step] if i >= step else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + predictor) & 0xFF
        elif kind != 0:
            raise MaskRejected("png")
        out[row * stride: (row + 1) * stride] = line
        previous = line
    return bytes(out)


# --- .npy -------------------------------------------------------------------------------------


def _npy_values(data: bytes, expected: tuple[int, ...]) -> tuple[str, Sequence[float] | bytes]:
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
    if shape != expected:
        raise MaskRejected("shape")
    kind, itemsize = descr[1:], int(descr[2:])
    body = data[start + size:]
    if len(body) != math.prod(expected) * itemsize:
        raise MaskRejected("length")
    return kind, _typed(kind, descr[0], body)


# --- NIfTI-1 ----------------------------------------------------------------------------------


class _PlainReader:
    def __init__(self, data: bytes) -> None:
        self.data, self.position = data, 0

    def read(self, size: int) -> bytes:
        piece = self.data[self.position: self.position + size]
        self.position += len(piece)
        return piece

    def at_end(self) -> bool:
        return self.position >= len(self.data)


class _GunzipReader:
    def __init__(self, data: bytes) -> None:
        if not data.startswith(b"\x1f\x8b"):
            raise MaskRejected("gzip")
        self.inflater = zlib.decompressobj(wbits=31)
        self.pending = data

    def read(self, size: int) -> bytes:
        try:
            out = self.inflater.decompress(self.pending, size)
        except zlib.error as exc:
            raise MaskRejected("gzip") from exc
        self.pending = self.inflater.unconsumed_tail
        return out

    def at_end(self) -> bool:
        if self.read(1):
            return False
        if not self.inflater.eof or self.inflater.unused_data:
            raise MaskRejected("gzip")
        return True


def _nifti_values(reader: _PlainReader | _GunzipReader,
                  expected: tuple[int, ...]) -> tuple[str, Sequence[float] | bytes]:
    raw = reader.read(NIFTI_HEADER)
    if len(raw) != NIFTI_HEADER:
        raise MaskRejected("nifti")
    order = next((o for o in "<>" if struct.unpack_from(o + "i", raw, 0)[0] == NIFTI_HEADER), "")
    if not order or raw[344:348] != b"n+1\x00":
        raise MaskRejected("nifti")
    dims = struct.unpack_from(order + "8h", raw, 40)
    code, bitpix = struct.unpack_from(order + "hh", raw, 70)
    vox_offset, slope, inter = struct.unpack_from(order + "fff", raw, 108)
    if not 1 <= dims[0] <= 7 or any(n < 1 for n in dims[1: dims[0] + 1]):
        raise MaskRejected("nifti")
    if not (math.isfinite(vox_offset) and vox_offset.is_integer()
            and NIFTI_HEADER + 4 <= vox_offset <= MAX_VOX_OFFSET):
        raise MaskRejected("nifti")
    if code not in NIFTI_TYPES or NIFTI_TYPES[code][1] != bitpix:
        raise MaskRejected("nifti_type")
    if not ((math.isnan(slope) or slope in (0.0, 1.0)) and (math.isnan(inter) or inter == 0.0)):
        raise MaskRejected("nifti_scaled")
    grid = list(dims[1: dims[0] + 1])
    while len(grid) > 2 and grid[-1] == 1:
        grid.pop()
    if tuple(reversed(grid)) != expected:
        raise MaskRejected("shape")
    kind = NIFTI_TYPES[code][0]
    size = math.prod(expected) * int(kind[1:])
    gap = int(vox_offset) - NIFTI_HEADER
    if len(reader.read(gap)) != gap:
        raise MaskRejected("length")
    body = reader.read(size)
    if len(body) != size or not reader.at_end():
        raise MaskRejected("length")
    return kind, _typed(kind, order, body)


def mask_names(case_id: str) -> Iterable[str]:
    return (f"{case_id}{ext}" for ext in MASK_EXTENSIONS)
