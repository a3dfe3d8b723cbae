"""Staging a phantom split as a contract `/input` folder, for running example images locally.

`stage_split(case_dir, out_dir)` lays out the split's `<case-id>.dcm` files the way the platform
stages a phase (docs/container-contract.md): `out_dir/manifest.json` plus
`out_dir/<case-id>/image.dcm`, readable by a non-root container user.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom

REPO = Path(__file__).resolve().parents[2]
MEASURED_AUROC: dict[str, float] = {}  # filled by the image tests, printed in the summary


def stage_split(case_dir: Path, out_dir: Path) -> Path:
    """Stage every `<case-id>.dcm` of a split as a contract `/input` folder; returns out_dir."""
    cases = []
    for path in sorted(case_dir.glob("*.dcm")):
        case_id = path.stem
        (out_dir / case_id).mkdir(parents=True)
        shutil.copyfile(path, out_dir / case_id / "image.dcm")
        header = pydicom.dcmread(path, stop_before_pixels=True)
        spacing = header.get("PixelSpacing")
        cases.append(
            {
                "id": case_id,
                "files": [f"{case_id}/image.dcm"],
                "modality": str(header.get("Modality", "")) or None,
                "pixel_spacing": [float(value) for value in spacing] if spacing else None,
            }
        )
    manifest = {
        "contract": "enclave/v1",
        "task": {
            "type": "binary-classification",
            "labels": ["absent", "present"],
            "positive_label": "present",
        },
        "cases": cases,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    _make_world_readable(out_dir)
    return out_dir


def _make_world_readable(root: Path) -> None:
    """The container runs as a non-root user: it must be able to read the staged tree."""
    root.chmod(0o755)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
