"""Clean Pixel Data (PS3.15 113101), the automatic part: ultrasound region masking (spec step 7).

`mask_outside_ultrasound_regions(ds)` keeps only the rectangles that the header's Sequence of
Ultrasound Regions (0018,6011) describes as image data and zeroes every other pixel of every frame,
where scanners print the patient's name, ID and dates. It decodes the pixels, so the dataset's Pixel
Data becomes native (uncompressed) and its transfer syntax Explicit VR Little Endian; the SOP
Instance UID is left alone (the keyed mapping owns it).

It returns a `Cleaning` (what was masked) or None when it cannot act: not an ultrasound image, no
usable region, or pixels it cannot decode. None is not an error: the file still goes to a person
(the data steward's review), who decides with or without the mask. Text burned INSIDE a region is
beyond this step; that is what the person is for.
"""

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import pixel_array

_REGION_KEYWORDS = ("RegionLocationMinX0", "RegionLocationMinY0", "RegionLocationMaxX1",
                    "RegionLocationMaxY1")
_MONOCHROME = ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR")


@dataclass(frozen=True)
class Cleaning:
    method: str  # "us_regions"
    regions: int
    masked_fraction: float  # of each frame's pixels, 0..1


def _regions(ds: Dataset, rows: int, columns: int) -> list[tuple[int, int, int, int]]:
    """Valid (x0, y0, x1, y1) boxes, inclusive, clipped to the image; malformed items skipped."""
    boxes = []
    for item in ds.get("SequenceOfUltrasoundRegions") or ():
        try:
            x0, y0, x1, y1 = (int(item.get(keyword)) for keyword in _REGION_KEYWORDS)
        except (TypeError, ValueError):
            continue
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, columns - 1), min(y1, rows - 1)
        if x0 <= x1 and y0 <= y1:
            boxes.append((x0, y0, x1, y1))
    return boxes


def _keep_mask(boxes: list[tuple[int, int, int, int]], rows: int, columns: int) -> np.ndarray:
    keep = np.zeros((rows, columns), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        keep[y0 : y1 + 1, x0 : x1 + 1] = True
    return keep


def mask_outside_ultrasound_regions(ds: Dataset) -> Cleaning | None:
    """Zero every pixel outside the ultrasound regions, in place; None when it cannot."""
    if str(ds.get("Modality") or "").upper() != "US":
        return None
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        bits_stored = int(ds.BitsStored)
        photometric = str(ds.PhotometricInterpretation).strip().upper()
    except (AttributeError, TypeError, ValueError):
        return None
    boxes = _regions(ds, rows, columns)
    if not boxes:
        return None
    try:
        pixels = pixel_array(ds)  # colour YBR comes back as RGB
    except Exception:  # a codec we lack or damaged data: leave it to the person
        return None
    keep = _keep_mask(boxes, rows, columns)
    colour = pixels.ndim == 4 or (pixels.ndim == 3 and pixels.shape[-1] == 3
                                  and int(ds.get("SamplesPerPixel") or 1) == 3)
    spatial = keep[..., None] if colour else keep
    pixels = np.where(spatial, pixels, 0).astype(pixels.dtype, copy=False)
    if colour:
        photometric, bits_stored = "RGB", min(bits_stored, pixels.dtype.itemsize * 8)
    elif photometric not in _MONOCHROME:
        return None
    ds.set_pixel_data(pixels, photometric, bits_stored, generate_instance_uid=False)
    return Cleaning(method="us_regions", regions=len(boxes),
                    masked_fraction=round(1.0 - float(keep.mean()), 4))
