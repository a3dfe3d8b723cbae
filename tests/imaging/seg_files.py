"""Real DICOM-SEG files for the tests, written by highdicom from de-identified source images."""

from io import BytesIO
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from imaging.deid import deidentify_file
from tests.imaging.conftest import KEY, fixture_bytes


def deidentified_source(name: str = "CT_small.dcm", path: Path | None = None) -> Dataset:
    """A pydicom test file (or the file at `path`) after our de-identification, as the case
    stores it."""
    data = path.read_bytes() if path is not None else fixture_bytes(name)
    return pydicom.dcmread(BytesIO(deidentify_file(data, key=KEY).data))


def seg_bytes(sources: list[Dataset], pixels: np.ndarray, segment_labels: list[str], *,
              segmentation_type: str = "BINARY") -> bytes:
    """A SEG over `sources` with one segment per last axis of `pixels` (frames, rows, columns,
    segments): booleans for BINARY, floats in [0, 1] for FRACTIONAL."""
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number, segment_label=label,
            segmented_property_category=codes.SCT.Tissue, segmented_property_type=codes.SCT.Tissue,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
        for number, label in enumerate(segment_labels, start=1)
    ]
    seg = _segmentation(sources, pixels, segmentation_type, descriptions)
    buffer = BytesIO()
    seg.save_as(buffer)
    return buffer.getvalue()


def _segmentation(sources, pixels, segmentation_type, descriptions) -> hd.seg.Segmentation:
    return hd.seg.Segmentation(
        source_images=sources, pixel_array=pixels, segmentation_type=segmentation_type,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=7,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="Enclave tests",
        manufacturer_model_name="seg_files", software_versions="1", device_serial_number="1",
    )


def two_squares(shape: tuple[int, int], *, overlap: bool = False) -> np.ndarray:
    """(1, rows, columns, 2): segment 1 a square at (10, 10), segment 2 a rectangle at (40, 40)
    (or touching segment 1's square when `overlap`)."""
    pixels = np.zeros((1, *shape, 2), dtype=bool)
    pixels[0, 10:20, 10:20, 0] = True
    if overlap:
        pixels[0, 15:25, 15:25, 1] = True
    else:
        pixels[0, 40:50, 40:60, 1] = True
    return pixels


def expected_label_map(shape: tuple[int, int], first: int, second: int) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    mask[10:20, 10:20] = first
    mask[40:50, 40:60] = second
    return mask
