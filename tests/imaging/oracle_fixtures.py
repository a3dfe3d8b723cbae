"""The real DICOM files the oracle tests de-identify, and their de-identified outputs (cached).

Three packages ship them offline: pydicom (`pydicom/data/test_files`), pydicom-data (`data_store`)
and deid-data (`deid_data/data`, ultrasound files with burned-in text and PHI in private tags).
The admitted set is an explicit list (plus every image of pydicom's `dicomdirtests` tree), so a
file that stops being admitted fails a test instead of silently leaving the oracles' scope.
Under CI a missing package fails (`require`), elsewhere the tests that need it skip.
"""

import os
from functools import cache
from pathlib import Path

import pydicom.data
import pytest

from imaging.deid import DeidResult, deidentify_file
from tests.imaging.conftest import KEY

PYDICOM_FILES = (
    "CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm",
    "MR_small_expb.dcm", "MR_small_implicit.dcm", "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm", "MR_small_padded.dcm", "examples_overlay.dcm",
    "693_J2KI.dcm", "JPEG-lossy.dcm", "JPEG2000.dcm", "JPGExtended.dcm", "GDCMJ2K_TextGBR.dcm",
    "J2K_pixelrep_mismatch.dcm", "JPEG2000-embedded-sequence-delimiter.dcm",
    "SC_jpeg_no_color_transform.dcm", "SC_rgb_jpeg_app14_dcmd.dcm", "SC_rgb_rle.dcm",
    "SC_rgb_small_odd.dcm", "examples_rgb_color.dcm", "examples_ybr_color.dcm",
    "examples_palette.dcm", "examples_jpeg2k.dcm", "ExplVR_BigEnd.dcm", "image_dfl.dcm",
)
PYDICOM_DATA_FILES = (
    "693_UNCR.dcm", "693_J2KR.dcm", "MR2_UNCR.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm",
    "RG1_UNCR.dcm", "RG3_J2KR.dcm", "JPEG-LL.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm",
    "eCT_Supplemental.dcm", "emri_small.dcm", "emri_small_jpeg_2k_lossless.dcm",
    "explicit_VR-UN.dcm", "US1_UNCR.dcm", "gdcm-US-ALOKA-16.dcm", "OT-PAL-8-face.dcm",
    "mlut_18.dcm", "vlut_04.dcm",
)
DEID_DATA_FILES = (
    "animals/cat.dcm", "humans/ctbrain1.dcm", "humans/ctbrain2.dcm",
    *(f"dicom-cookies/image{n}.dcm" for n in range(1, 8)),
    "ultrasounds/GREYSCALE_IMAGE.dcm", "ultrasounds/RGB_IMAGE.dcm",
    "ultrasounds/ultrasound-multiframe.dcm",
)
DEID_DATA_ULTRASOUNDS = tuple(name for name in DEID_DATA_FILES if name.startswith("ultrasounds/"))
MIN_DICOMDIR_IMAGES = 31  # pydicom 3.0.2: CR, CT and MR images of three patients


def require(module: str) -> None:
    """Skip when an optional oracle package is missing, except under CI, where it fails."""
    if os.environ.get("CI"):
        __import__(module)
    else:
        pytest.importorskip(module)


def pydicom_path(name: str) -> Path:
    return Path(pydicom.data.__file__).parent / "test_files" / name


def pydicom_data_path(name: str) -> Path:
    require("data_store")
    import data_store

    return Path(data_store.__file__).parent / "data" / name


def deid_data_path(name: str) -> Path:
    require("deid_data")
    import deid_data

    return Path(deid_data.__file__).parent / "data" / name


def dicomdir_images() -> list[Path]:
    """Every image file under pydicom's dicomdirtests (the DICOMDIR files themselves excluded)."""
    root = pydicom_path("dicomdirtests")
    images = sorted(p for p in root.rglob("*") if p.is_file() and p.parent.name != root.name
                    and "DICOMDIR" not in p.name and p.name != "README"
                    and "TINY_ALPHA" not in p.parts)  # TINY_ALPHA images hold no pixel data
    assert len(images) >= MIN_DICOMDIR_IMAGES, "pydicom's dicomdirtests tree shrank"
    return images


# (id, how to find the file): ids are stable test ids; paths resolve lazily, so a missing optional
# package skips (or, under CI, fails) only the tests that need it.
FIXTURES: list[tuple[str, tuple[str, str]]] = [
    *((f"pydicom/{n}", ("pydicom", n)) for n in PYDICOM_FILES),
    *((f"pydicom-data/{n}", ("pydicom-data", n)) for n in PYDICOM_DATA_FILES),
    *((f"deid-data/{n}", ("deid-data", n)) for n in DEID_DATA_FILES),
]


def fixture_file(source: tuple[str, str]) -> Path:
    kind, name = source
    if kind == "pydicom":
        return pydicom_path(name)
    if kind == "pydicom-data":
        return pydicom_data_path(name)
    return deid_data_path(name)


@cache
def deidentified(path: Path, key: bytes = KEY) -> DeidResult:
    """The de-identified output of one file (cached for the session: several oracles read it)."""
    return deidentify_file(path.read_bytes(), key=key)


def write_pair(path: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(input, output) on disk for the command-line oracles."""
    out = tmp_path / "out.dcm"
    out.write_bytes(deidentified(path).data)
    return path, out
