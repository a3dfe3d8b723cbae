"""Segmentation and detection ground truth for the `lesion-phantom` demo data (examples/phantom.py).

The phantom's lesions are synthetic soft-edged disks at known places, so their masks and centres
are exact by construction. From a split written by `build_phantom`, `write_truth(out_dir, split)`
writes:

- `out_dir/<split>-masks/<case-id>.png`: an 8-bit label map of the case's shape, 1 inside the
  lesion's disk (distance to the centre <= its radius, in pixels), 0 elsewhere (all 0 for a case
  without a lesion);
- `out_dir/<split>-points.json`: `{case_id: [{"x": column, "y": row, "radius_mm": r}]}` for every
  case (an empty list without a lesion), where `radius_mm` is the disk's radius in mm at the
  larger pixel spacing the platform reads from the file (top level, else the functional groups),
  or in pixels for a file without any (score those with the spec's `spacing_mm` [1, 1]); the
  form `import_cases --lesions` reads.

Usage: `python -m examples.phantom_truth /tmp/phantom` after `python -m examples.phantom
/tmp/phantom` (both splits).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image

from examples.phantom import SPLITS


@dataclass(frozen=True)
class PhantomTruth:
    masks_dir: Path
    points: Path


def lesion_mask(shape: tuple[int, int], center: tuple[int, int], radius_px: float) -> np.ndarray:
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    return (np.hypot(rows - center[0], cols - center[1]) <= radius_px).astype(np.uint8)


def pixel_spacing(ds: pydicom.Dataset) -> tuple[float, ...] | None:
    """PixelSpacing as the platform reads it on import (imaging.dicom_deid), or None."""
    spacing = ds.get("PixelSpacing")
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        if spacing:
            break
        try:
            spacing = ds[groups][0].PixelMeasuresSequence[0].PixelSpacing
        except (KeyError, IndexError, AttributeError):
            spacing = None
    values = tuple(float(v) for v in spacing) if spacing else ()
    return values if len(values) == 2 and min(values) > 0 else None


def write_truth(out_dir: Path, split: str) -> PhantomTruth:
    """Write the masks and points of one split (see the module docstring)."""
    out_dir = Path(out_dir)
    lesions = json.loads((out_dir / f"{split}-lesions.json").read_text())
    masks_dir = out_dir / f"{split}-masks"
    masks_dir.mkdir(exist_ok=True)
    points: dict[str, list[dict[str, float]]] = {}
    for path in sorted((out_dir / split).glob("*.dcm")):
        case_id = path.stem
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        shape = (int(ds.Rows), int(ds.Columns))
        lesion = lesions.get(case_id)
        mask = np.zeros(shape, dtype=np.uint8)
        points[case_id] = []
        if lesion is not None:
            center = (int(lesion["center"][0]), int(lesion["center"][1]))
            mask = lesion_mask(shape, center, float(lesion["radius_px"]))
            spacing = max(pixel_spacing(ds) or (1.0,))
            points[case_id].append({"x": center[1], "y": center[0],
                                    "radius_mm": round(float(lesion["radius_px"]) * spacing, 4)})
        Image.fromarray(mask).save(masks_dir / f"{case_id}.png")
    points_path = out_dir / f"{split}-points.json"
    points_path.write_text(json.dumps(points, indent=1) + "\n")
    return PhantomTruth(masks_dir=masks_dir, points=points_path)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args()
    for name in SPLITS:
        truth = write_truth(args.out_dir, name)
        print(f"{name}: masks in {truth.masks_dir}, points in {truth.points}")
