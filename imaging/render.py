"""Rendering for people: one frame of a stored image file as an 8-bit PNG, windowed on request.

`render(data, kind, params)` is a pure function of the file's bytes and `RenderParams`; it returns a
`Rendering` (the PNG and what was applied). `render_cached(sha256=, load=, kind=, params=)` keeps
renderings in Django's cache under a content-addressed key (the file's SHA-256 and the params), so
the bytes are read and decoded once per distinct view.

- Kinds: "dicom", "png", "jpeg" (as stored by `imaging.deid`), and "nifti" (a NIfTI-1 single file,
  `.nii` or gzip'd; its voxel grid [i, j, k] is shown as frames k of rows j, columns i, the order
  `imaging.masks` reads masks in, with the header's scaling applied).
- Grayscale: the modality LUT (RescaleSlope/Intercept, or a Modality LUT Sequence) gives the
  values; the window is, in this order: `center`/`width` from the request (width >= 1), a named
  preset (`PRESETS`, meaningful in Hounsfield units: CT), "auto" (the 1st to 99th percentile of
  the frame), the window the file declares, CT's soft-tissue preset, else "auto". The linear
  DICOM window (PS3.3 C.11.2.1.2) maps values to 0-255; MONOCHROME1 is inverted.
- Colour (RGB, YBR, palette DICOM; colour PNG/JPEG) is passed through as RGB; no window applies.
- Multi-frame: `frame` picks one (0-based, clamped into range; default the middle one); only that
  frame of a DICOM file is decoded.
- Output: at most `max_size` pixels a side (clamped to MIN_SIZE..MAX_SIZE), aspect kept; never
  enlarged. Non-square DICOM pixels are not corrected here: overlays drawn in pixel coordinates
  must line up with the picture.

Bad bytes raise `RenderError`; this module knows nothing about cases or challenges.
"""

import gzip
import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from django.core.cache import cache
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, pixel_array

from imaging.errors import ImageFileRejected
from imaging.raster import open_raster
from imaging.readers import (
    _COLOUR_PHOTOMETRICS,
    _first_number,
    _frame_attribute,
    _rescaled,
    _to_uint8,
)

KINDS = ("dicom", "png", "jpeg", "nifti")
# (center, width) in Hounsfield units
PRESETS: dict[str, tuple[float, float]] = {
    "soft-tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
}
AUTO = "auto"
AUTO_PERCENTILES = (1.0, 99.0)
DEFAULT_SIZE, MIN_SIZE, MAX_SIZE = 512, 32, 2048
MAX_NIFTI_BYTES = 1024 * 1024 * 1024
CACHE_SECONDS = 24 * 3600
_CACHE_VERSION = 1


class RenderError(ValueError):
    """The bytes cannot be shown as an image of the given kind."""


@dataclass(frozen=True)
class RenderParams:
    frame: int | None = None
    center: float | None = None
    width: float | None = None
    preset: str = ""
    max_size: int = DEFAULT_SIZE

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Rendering:
    png: bytes
    frames: int
    frame: int
    rows: int  # of the source frame (overlay coordinates)
    columns: int
    center: float | None  # the window applied (None: colour, no window)
    width: float | None
    window: str  # "custom", a preset name, "auto", "file", or "" for colour


def presets_for(modality: str) -> list[str]:
    """The window presets offered for a modality: CT's named windows, then "auto"."""
    return [*PRESETS, AUTO] if modality.upper() == "CT" else [AUTO]


def _auto_window(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(finite, AUTO_PERCENTILES))
    return (low + high) / 2, max(high - low, 1.0)


def choose_window(values: np.ndarray, params: RenderParams, *, modality: str,
                  declared: tuple[float, float] | None) -> tuple[float, float, str]:
    """(center, width, source) for a grayscale frame of modality-LUT values."""
    if params.center is not None and params.width is not None and params.width >= 1:
        return float(params.center), float(params.width), "custom"
    if params.preset in PRESETS:
        return (*PRESETS[params.preset], params.preset)
    if params.preset == AUTO:
        return (*_auto_window(values), AUTO)
    if declared is not None:
        return (*declared, "file")
    if modality.upper() == "CT":
        return (*PRESETS["soft-tissue"], "soft-tissue")
    return (*_auto_window(values), AUTO)


def apply_window(values: np.ndarray, center: float, width: float, *,
                 invert: bool = False) -> np.ndarray:
    """The linear DICOM window to uint8: below c - 0.5 - (w-1)/2 is 0, above c - 0.5 + (w-1)/2
    is 255, linear between."""
    span = width - 1 if width > 1 else 1.0
    scaled = np.clip((values.astype(np.float64) - (center - 0.5)) / span + 0.5, 0.0, 1.0)
    if invert:
        scaled = 1.0 - scaled
    return np.asarray((scaled * 255).round(), dtype=np.uint8)


def _frame_index(frame: int | None, frames: int) -> int:
    if frame is None:
        return frames // 2
    return min(max(int(frame), 0), frames - 1)


@dataclass(frozen=True)
class _Frame:
    pixels: np.ndarray  # uint8 (rows, cols) or (rows, cols, 3)
    frames: int
    frame: int
    center: float | None
    width: float | None
    window: str


def _grayscale(values: np.ndarray, params: RenderParams, *, modality: str,
               declared: tuple[float, float] | None, invert: bool, frames: int,
               frame: int) -> _Frame:
    center, width, source = choose_window(values, params, modality=modality, declared=declared)
    return _Frame(apply_window(values, center, width, invert=invert), frames, frame, center,
                  width, source)


def _colour(pixels: np.ndarray, frames: int, frame: int) -> _Frame:
    return _Frame(_to_uint8(pixels), frames, frame, None, None, "")


_DECODE_ERRORS = (InvalidDicomError, AttributeError, KeyError, ValueError, TypeError, OSError,
                  NotImplementedError, RuntimeError)
# JPEG processes no Python decoder here reads (12-bit Extended: pylibjpeg-libjpeg is GPLv3);
# dcmtk's dcmdjpeg (BSD) decompresses them when it is installed.
_DCMDJPEG_SYNTAXES = frozenset({"1.2.840.10008.1.2.4.51"})
DCMDJPEG_TIMEOUT = 60


def _dcmdjpeg(data: bytes) -> Dataset:
    """`data` decompressed by dcmtk's dcmdjpeg (in a private temporary folder, time-limited)."""
    tool = shutil.which("dcmdjpeg")
    if tool is None:
        raise RenderError("no decoder for this JPEG process (install dcmtk for dcmdjpeg)")
    with tempfile.TemporaryDirectory(prefix="enclave-render-") as folder:
        source, target = Path(folder) / "in.dcm", Path(folder) / "out.dcm"
        source.write_bytes(data)
        try:
            subprocess.run([tool, str(source), str(target)], check=True,
                           capture_output=True, timeout=DCMDJPEG_TIMEOUT)
        except (subprocess.SubprocessError, OSError) as exc:
            raise RenderError("dcmdjpeg could not decompress the file") from exc
        return dcmread(target)


def _dicom_frame(data: bytes, params: RenderParams) -> _Frame:
    try:
        ds: Dataset = dcmread(BytesIO(data))
        frames = max(int(ds.get("NumberOfFrames") or 1), 1)
        index = _frame_index(params.frame, frames)
        try:
            pixels = pixel_array(ds, index=index)
        except _DECODE_ERRORS:
            syntax = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", ""))
            if syntax not in _DCMDJPEG_SYNTAXES:
                raise
            ds = _dcmdjpeg(data)
            pixels = pixel_array(ds, index=index)
    except _DECODE_ERRORS as exc:
        raise RenderError("unreadable DICOM") from exc
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    if photometric == "PALETTE COLOR":
        return _colour(apply_color_lut(pixels, ds), frames, index)
    if photometric in _COLOUR_PHOTOMETRICS or pixels.ndim == 3:
        return _colour(pixels, frames, index)
    center = _first_number(_frame_attribute(ds, index, "FrameVOILUTSequence", "WindowCenter"))
    width = _first_number(_frame_attribute(ds, index, "FrameVOILUTSequence", "WindowWidth"))
    declared = (center, width) if center is not None and width is not None and width >= 1 else None
    return _grayscale(_rescaled(ds, index, pixels), params,
                      modality=str(ds.get("Modality", "")), declared=declared,
                      invert=photometric == "MONOCHROME1", frames=frames, frame=index)


def _raster_frame(data: bytes, kind: str, params: RenderParams) -> _Frame:
    try:
        with open_raster(data, kind) as image:
            if image.mode in ("I", "I;16", "I;16B", "F", "L", "LA", "1"):
                values = np.asarray(image.convert("F") if image.mode != "F" else image,
                                    dtype=np.float64)
                rgb = None
            else:
                rgb = np.asarray(image.convert("RGB"))
    except ImageFileRejected as exc:
        raise RenderError("unreadable raster") from exc
    if rgb is not None:
        return _colour(rgb, 1, 0)
    # An 8-bit picture is shown as stored unless a window is asked for.
    declared = (128.0, 256.0) if values.max() <= 255 and values.min() >= 0 else None
    return _grayscale(values, params, modality="", declared=declared, invert=False, frames=1,
                      frame=0)


def _nifti_frame(data: bytes, params: RenderParams) -> _Frame:
    import nibabel

    try:
        if data[:2] == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=BytesIO(data)) as handle:
                data = handle.read(MAX_NIFTI_BYTES + 1)
            if len(data) > MAX_NIFTI_BYTES:
                raise RenderError("NIfTI too large")
        image = nibabel.Nifti1Image.from_bytes(data)
        shape = image.shape
        while len(shape) > 3 and shape[-1] == 1:
            shape = shape[:-1]
        if len(shape) not in (2, 3):
            raise RenderError("NIfTI is not a 2-D or 3-D image")
        frames = shape[2] if len(shape) == 3 else 1
        index = _frame_index(params.frame, frames)
        volume = np.asarray(image.dataobj, dtype=np.float64).reshape(shape)
        values = (volume[:, :, index] if len(shape) == 3 else volume).T  # (j, i)
    except RenderError:
        raise
    except Exception as exc:  # nibabel raises many kinds on a damaged file
        raise RenderError("unreadable NIfTI") from exc
    return _grayscale(values, params, modality="", declared=None, invert=False, frames=frames,
                      frame=index)


def render(data: bytes, kind: str, params: RenderParams | None = None) -> Rendering:
    """One frame of the file as a PNG (see the module docstring)."""
    params = params or RenderParams()
    if kind == "dicom":
        frame = _dicom_frame(data, params)
    elif kind in ("png", "jpeg"):
        frame = _raster_frame(data, kind, params)
    elif kind == "nifti":
        frame = _nifti_frame(data, params)
    else:
        raise RenderError(f"unknown image kind {kind!r}")
    rows, columns = frame.pixels.shape[:2]
    image = Image.fromarray(frame.pixels, mode="RGB" if frame.pixels.ndim == 3 else "L")
    size = min(max(int(params.max_size), MIN_SIZE), MAX_SIZE)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    return Rendering(png=buffer.getvalue(), frames=frame.frames, frame=frame.frame, rows=rows,
                     columns=columns, center=frame.center, width=frame.width,
                     window=frame.window)


def render_mask(mask: np.ndarray, *, frame: int | None = None,
                colour: tuple[int, int, int] = (0, 200, 83), alpha: int = 140,
                max_size: int = DEFAULT_SIZE) -> bytes:
    """One frame of a label mask ((rows, cols) or (frames, rows, cols)) as a transparent PNG of
    the size `render` gives the image: labels above 0 in `colour`, their outline opaque."""
    if mask.ndim == 3:
        mask = mask[_frame_index(frame, mask.shape[0])]
    if mask.ndim != 2 or mask.size == 0:
        raise RenderError("a mask must be 2-D or 3-D")
    inside = mask > 0
    edge = inside.copy()
    edge[1:-1, 1:-1] &= ~(inside[:-2, 1:-1] & inside[2:, 1:-1] & inside[1:-1, :-2]
                          & inside[1:-1, 2:])
    rgba = np.zeros((*mask.shape, 4), dtype=np.uint8)
    rgba[inside] = (*colour, alpha)
    rgba[edge] = (*colour, 255)
    image = Image.fromarray(rgba, mode="RGBA")
    size = min(max(int(max_size), MIN_SIZE), MAX_SIZE)
    image.thumbnail((size, size), Image.Resampling.NEAREST)
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def placeholder_png(size: int = 256) -> bytes:
    """A plain grey square: what is shown where a file cannot be rendered."""
    buffer = BytesIO()
    Image.new("L", (size, size), 96).save(buffer, format="PNG")
    return buffer.getvalue()


def cache_key(sha256: str, kind: str, params: RenderParams) -> str:
    digest = hashlib.sha256(f"{kind}|{params.key()}".encode()).hexdigest()[:32]
    return f"render:v{_CACHE_VERSION}:{sha256}:{digest}"


def render_cached(*, sha256: str, kind: str, load: Callable[[], bytes],
                  params: RenderParams | None = None) -> Rendering:
    """`render` of the file whose content has `sha256`, from the cache when it was rendered with
    the same params before; `load` is called only on a miss. The bytes `load` returns are checked
    against `sha256` (a mismatch raises RenderError: storage is not what the index says)."""
    params = params or RenderParams()
    key = cache_key(sha256, kind, params)
    held: dict[str, Any] | None = cache.get(key)
    if held is not None:
        return Rendering(**held)
    data = load()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise RenderError("stored bytes do not match their SHA-256")
    rendering = render(data, kind, params)
    cache.set(key, asdict(rendering), CACHE_SECONDS)
    return rendering
