"""NIfTI-1 single files (`n+1`, plain or gzip'd) as masks: the header parsed by hand, the voxels
read only after the shape matched, gzip inflated on demand (no bombs). The participant client has
the same code (client/enclave_client/masks.py)."""

import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from imaging.mask_rules import MaskRejected

NIFTI_HEADER = 348
MAX_VOX_OFFSET = 1024 * 1024
# NIfTI-1 datatype code -> (numpy kind + size, bitpix)
NIFTI_TYPES = {2: ("u1", 8), 4: ("i2", 16), 8: ("i4", 32), 16: ("f4", 32), 64: ("f8", 64),
               256: ("i1", 8), 512: ("u2", 16), 768: ("u4", 32), 1024: ("i8", 64),
               1280: ("u8", 64)}


class PlainReader:
    def __init__(self, data: bytes) -> None:
        self.data, self.position = data, 0

    def read(self, size: int) -> bytes:
        piece = self.data[self.position: self.position + size]
        self.position += len(piece)
        return piece

    def at_end(self) -> bool:
        return self.position >= len(self.data)


class GunzipReader:
    """Inflate one gzip member on demand, never more than asked for (no bombs)."""

    @classmethod
    def of(cls, data: bytes) -> "GunzipReader":
        if not data.startswith(b"\x1f\x8b"):
            raise MaskRejected("gzip")
        return cls(data)

    def __init__(self, data: bytes) -> None:
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


@dataclass(frozen=True)
class NiftiHeader:
    order: str  # "<" or ">"
    shape: tuple[int, ...]  # numpy order: (frames, rows, columns) or (rows, columns)
    kind: str  # numpy kind and size, e.g. "u1"
    offset: int
    spacing: tuple[float, ...]


def nifti_header(raw: bytes) -> NiftiHeader:
    """Parse the 348-byte NIfTI-1 header (the client has the same code)."""
    if len(raw) != NIFTI_HEADER:
        raise MaskRejected("nifti")
    order = next((o for o in "<>" if struct.unpack_from(o + "i", raw, 0)[0] == NIFTI_HEADER), "")
    if not order or raw[344:348] != b"n+1\x00":
        raise MaskRejected("nifti")
    dims = struct.unpack_from(order + "8h", raw, 40)
    code, bitpix = struct.unpack_from(order + "hh", raw, 70)
    pixdim = struct.unpack_from(order + "8f", raw, 76)
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
    spacing = tuple(float(abs(p)) for p in pixdim[1: len(grid) + 1])
    return NiftiHeader(order, tuple(reversed(grid)), NIFTI_TYPES[code][0], int(vox_offset),
                       tuple(reversed(spacing)))


def read_nifti(reader: PlainReader | GunzipReader, expected: tuple[int, ...]) -> np.ndarray:
    header = nifti_header(reader.read(NIFTI_HEADER))
    if header.shape != expected:
        raise MaskRejected("shape")
    dtype = np.dtype(header.order + header.kind)
    size = math.prod(expected) * dtype.itemsize
    gap = header.offset - NIFTI_HEADER
    if len(reader.read(gap)) != gap:
        raise MaskRejected("length")
    body = reader.read(size)
    if len(body) != size or not reader.at_end():
        raise MaskRejected("length")
    return np.frombuffer(body, dtype=dtype).reshape(expected)
