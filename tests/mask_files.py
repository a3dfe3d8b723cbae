"""Mask files as teams and data stewards write them, for tests: PNG, .npy and NIfTI-1 bytes.

`nifti_bytes` writes a minimal NIfTI-1 single file the way nibabel does (348-byte header, the
4-byte extension flag, data at offset 352; scl_slope and scl_inter NaN): the array (frames, rows,
columns) is stored with columns varying fastest, so dim = (columns, rows, frames).
"""

import gzip
import io
import struct

import numpy as np
from PIL import Image

NIFTI_CODES = {"uint8": 2, "int16": 4, "int32": 8, "float32": 16, "float64": 64, "int8": 256,
               "uint16": 512, "uint32": 768, "int64": 1024, "uint64": 1280}


def png_bytes(mask: np.ndarray, *, mode: str | None = None, **save: object) -> bytes:
    image = Image.fromarray(mask, mode=mode) if mode else Image.fromarray(mask)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **save)
    return buffer.getvalue()


def palette_png_bytes(mask: np.ndarray) -> bytes:
    """An 8-bit palette PNG whose palette indices are the labels."""
    rows, columns = mask.shape
    image = Image.frombytes("P", (columns, rows), mask.astype(np.uint8).tobytes())
    image.putpalette([v for i in range(256) for v in (i, 0, 255 - i)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def npy_bytes(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, mask, allow_pickle=False)
    return buffer.getvalue()


def nifti_bytes(mask: np.ndarray, *, big_endian: bool = False, compress: bool = False,
                slope: float = float("nan"), inter: float = float("nan"),
                magic: bytes = b"n+1\x00", extra: bytes = b"", dims: tuple[int, ...] | None = None,
                spacing: tuple[float, ...] = ()) -> bytes:
    order = ">" if big_endian else "<"
    grid = dims or tuple(reversed(mask.shape))
    header = bytearray(348)
    struct.pack_into(order + "i", header, 0, 348)
    struct.pack_into(order + "8h", header, 40, len(grid), *grid, *([1] * (7 - len(grid))))
    dtype = mask.dtype
    struct.pack_into(order + "hh", header, 70, NIFTI_CODES[dtype.name], dtype.itemsize * 8)
    pixdim = [1.0, *(spacing or [1.0] * len(grid))]
    struct.pack_into(order + "8f", header, 76, *pixdim, *([1.0] * (8 - len(pixdim))))
    struct.pack_into(order + "fff", header, 108, 352.0, slope, inter)
    header[344:348] = magic
    data = bytes(header) + b"\x00" * 4 + mask.astype(dtype.newbyteorder(order)).tobytes() + extra
    return gzip.compress(data, mtime=0) if compress else data


def png_with_filters(mask: np.ndarray, filters: list[int]) -> bytes:
    """A grayscale PNG (8- or 16-bit, by the mask's dtype) whose row r uses PNG filter type
    filters[r % len(filters)] (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth), written by hand."""
    import struct
    import zlib

    depth = 16 if mask.dtype.itemsize == 2 else 8
    step = depth // 8
    rows = [bytes(row) for row in mask.astype(">u2" if depth == 16 else "u1").reshape(
        mask.shape[0], -1).view(np.uint8)]
    previous = bytes(len(rows[0]))
    out = bytearray()
    for index, row in enumerate(rows):
        kind = filters[index % len(filters)]
        filtered = bytearray()
        for i, value in enumerate(row):
            a = row[i - step] if i >= step else 0
            b = previous[i]
            c = previous[i - step] if i >= step else 0
            if kind == 0:
                predictor = 0
            elif kind == 1:
                predictor = a
            elif kind == 2:
                predictor = b
            elif kind == 3:
                predictor = (a + b) >> 1
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
            filtered.append((value - predictor) & 0xFF)
        out += bytes([kind]) + filtered
        previous = row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">L", len(body)) + kind + body + struct.pack(
            ">L", zlib.crc32(kind + body))

    header = struct.pack(">LLBBBBB", mask.shape[1], mask.shape[0], depth, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(out))
            + chunk(b"IEND", b""))
