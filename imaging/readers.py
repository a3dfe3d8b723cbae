"""Decode stored (de-identified) image files: raw pixels for analysis, a small PNG for the viewer.

`read_pixels(data, kind)` returns the stored values, undecorated: DICOM -> pydicom's
`pixel_array` (all frames: (rows, cols), (frames, rows, cols) or (..., samples); YBR converted to
RGB; no rescale or LUT applied, so label values of masks survive); PNG/JPEG -> `numpy.asarray`
of the image as stored (palette images give palette indices, as masks need).

`render_png(data, kind, max_size=512)` returns a PNG no larger than `max_size` a side for the web
viewer: grayscale DICOM is rescaled (modality LUT) and windowed with WindowCenter/Width when
present (top level, or the frame's functional groups), else a soft-tissue window (40/400 HU) for
CT, else min/max; MONOCHROME1 is inverted; multi-frame objects show their middle frame (only
that frame is decoded); non-square pixels are corrected from PixelSpacing. Colour DICOM
(RGB/YBR/palette) and colour PNG/JPEG stay in colour; 16-bit grayscale PNGs are scaled min/max.
"""

from collections.abc import Sequence
from io import BytesIO
from typing import Any

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_rescale, pixel_array

from imaging.raster import open_raster

KINDS = ("dicom", "png", "jpeg")
CT_SOFT_TISSUE_WINDOW = (40.0, 400.0)
_COLOUR_PHOTOMETRICS = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown image kind {kind!r}; expected one of {KINDS}")


def read_pixels(data: bytes, kind: str) -> np.ndarray:
    _check_kind(kind)
    if kind == "dicom":
        return dcmread(BytesIO(data)).pixel_array
    with open_raster(data, kind) as image:
        return np.asarray(image)


def _frame_attribute(ds: Dataset, index: int, sequence: str, keyword: str) -> Any:
    """`keyword` at the top level, else in the frame's or the shared functional groups."""
    if keyword in ds:
        return ds[keyword].value
    for groups, position in (("PerFrameFunctionalGroupsSequence", index),
                             ("SharedFunctionalGroupsSequence", 0)):
        try:
            return ds[groups][position][sequence][0][keyword].value
        except (KeyError, IndexError, TypeError):
            continue
    return None


def _first_number(value: object) -> float | None:
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        value = value[0] if len(value) else None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _window(ds: Dataset, index: int, values: np.ndarray) -> tuple[float, float]:
    center = _first_number(_frame_attribute(ds, index, "FrameVOILUTSequence", "WindowCenter"))
    width = _first_number(_frame_attribute(ds, index, "FrameVOILUTSequence", "WindowWidth"))
    if center is not None and width is not None and width >= 1:
        return center, width
    if str(ds.get("Modality", "")).upper() == "CT":
        return CT_SOFT_TISSUE_WINDOW
    low, high = float(values.min()), float(values.max())
    return (low + high) / 2, max(high - low, 1.0)


def _rescaled(ds: Dataset, index: int, frame: np.ndarray) -> np.ndarray:
    if "ModalityLUTSequence" in ds:
        return apply_rescale(frame, ds).astype(np.float64)
    transform = "PixelValueTransformationSequence"
    slope = _first_number(_frame_attribute(ds, index, transform, "RescaleSlope"))
    intercept = _first_number(_frame_attribute(ds, index, transform, "RescaleIntercept"))
    return frame.astype(np.float64) * (1.0 if slope is None else slope) + (intercept or 0.0)


def _grayscale_image(ds: Dataset, index: int, frame: np.ndarray) -> Image.Image:
    values = _rescaled(ds, index, frame)
    center, width = _window(ds, index, values)
    scaled = np.clip((values - (center - 0.5)) / (width - 1 if width > 1 else 1) + 0.5, 0, 1)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        scaled = 1.0 - scaled
    return Image.fromarray((scaled * 255).round().astype(np.uint8), mode="L")


def _to_uint8(values: np.ndarray) -> np.ndarray:
    if values.dtype == np.uint8:
        return values
    low, high = float(values.min()), float(values.max())
    return ((values.astype(np.float64) - low) / max(high - low, 1.0) * 255).round().astype(np.uint8)


def _dicom_image(data: bytes) -> Image.Image:
    ds = dcmread(BytesIO(data))
    frames = int(ds.get("NumberOfFrames") or 1)
    index = frames // 2
    frame = pixel_array(ds, index=index)
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    if photometric == "PALETTE COLOR":
        return Image.fromarray(_to_uint8(apply_color_lut(frame, ds)), mode="RGB")
    if photometric in _COLOUR_PHOTOMETRICS or frame.ndim == 3:
        return Image.fromarray(_to_uint8(frame), mode="RGB")
    image = _grayscale_image(ds, index, frame)
    spacing = _frame_attribute(ds, index, "PixelMeasuresSequence", "PixelSpacing")
    if spacing is not None and len(spacing) == 2:
        row, column = (float(v) for v in spacing)
        if row > 0 and column > 0 and abs(row - column) / row > 0.01:
            width = max(1, round(image.width * column / row))
            image = image.resize((width, image.height), Image.Resampling.BILINEAR)
    return image


def _raster_image(data: bytes, kind: str) -> Image.Image:
    with open_raster(data, kind) as image:
        if image.mode in ("I", "I;16", "I;16B", "F"):
            return Image.fromarray(_to_uint8(np.asarray(image)), mode="L")
        if image.mode in ("L", "RGB", "RGBA", "LA"):
            return image.copy()
        return image.convert("RGBA" if "A" in image.getbands() else "RGB")


def render_png(data: bytes, kind: str, *, max_size: int = 512) -> bytes:
    _check_kind(kind)
    image = _dicom_image(data) if kind == "dicom" else _raster_image(data, kind)
    image.thumbnail((max_size, max_size))
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
