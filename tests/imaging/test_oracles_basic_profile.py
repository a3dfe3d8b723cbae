"""Oracle: dicom-anonymizer's independent Basic Profile table (PS3.15 Table E.1-1, 2026c).

dicom-anonymizer 2.1.0 (Kitware, BSD) ships the standard's action lists as data
(`dicomfields_2026c.py`: D, Z, X, U and the combined X/Z/D lists). For every fixture we admit,
no attribute those lists name may keep its original non-empty value, at any depth, unless one of
the options our profile declares allows it:
- 113107 Retain Longitudinal Temporal Information with Modified Dates: times (TM) are kept (dates
  are shifted, so they differ);
- 113108 Retain Patient Characteristics and 113109 Retain Device Identity: the attributes below.
U attributes (UIDs) must be remapped unless they are standard-defined values.
Only the data file is read (its package imports tqdm, which this project does not need).
"""

import importlib.util
import io
import os
from functools import cache
from importlib import metadata
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from tests.imaging.oracle_fixtures import (
    FIXTURES,
    deidentified,
    dicomdir_images,
    fixture_file,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# What the declared options allow to stay unchanged (PS3.15 Table E.1-1, option columns).
PATIENT_CHARACTERISTICS = {  # 113108
    "PatientAge", "PatientSex", "PatientSize", "PatientWeight", "EthnicGroup",
    "PregnancyStatus", "SmokingStatus", "PatientSexNeutered", "SpecialNeeds", "PatientState",
    "Allergies", "PreMedication", "AdditionalPatientHistory", "MedicalAlerts",
}
DEVICE_IDENTITY = {  # 113109
    "DeviceSerialNumber", "StationName", "DetectorID", "DeviceUID", "PlateID", "GantryID",
    "CassetteID", "GeneratorID", "DeviceLabel", "SourceSerialNumber", "XRayTubeID",
    "DetectorSerialNumber", "DeviceDescription",
}
ALLOWED_UNCHANGED = PATIENT_CHARACTERISTICS | DEVICE_IDENTITY
STANDARD_UID_ROOT = "1.2.840.10008."


def _table_module():
    try:
        files = metadata.files("dicom-anonymizer") or []
    except metadata.PackageNotFoundError:
        if os.environ.get("CI"):
            raise
        pytest.skip("dicom-anonymizer is not installed")
    path = next(Path(f.locate()) for f in files if str(f).endswith("dicomfields_2026c.py"))
    spec = importlib.util.spec_from_file_location("dicomfields_2026c", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def basic_profile_tags() -> tuple[frozenset[int], frozenset[int]]:
    """(tags to remove/empty/replace, UID tags to remap) from the 2026c table."""
    table = _table_module()
    replace = set()
    for name in ("D_TAGS", "Z_TAGS", "X_TAGS", "Z_D_TAGS", "X_Z_TAGS", "X_D_TAGS",
                 "X_Z_D_TAGS", "X_Z_U_STAR_TAGS"):
        replace |= {int(Tag(*pair)) for pair in getattr(table, name) if len(pair) == 2}
    uids = {int(Tag(*pair)) for pair in table.U_TAGS if len(pair) == 2}
    assert len(replace) > 400 and len(uids) > 40, "the table is not the one this test knows"
    return frozenset(replace - uids), frozenset(uids)


def _values(ds: Dataset) -> dict[tuple[int, int], str]:
    """(depth-path hash, tag) -> value text of every non-sequence element, at every depth."""
    found: dict[tuple[int, int], str] = {}

    def walk(dataset: Dataset, path: int) -> None:
        for elem in dataset:
            if elem.VR == "SQ":
                for index, item in enumerate(elem.value or ()):
                    walk(item, hash((path, int(elem.tag), index)))
            elif elem.value not in (None, "", b"") and elem.tag != 0x7FE00010:
                found[(path, int(elem.tag))] = str(elem.value)

    walk(ds, 0)
    return found


def _unchanged(source: Path) -> list[str]:
    """Basic Profile attributes of `source` whose value the output still holds at the same
    place (a sequence item's position counts), the options' allowances excepted."""
    replace, uids = basic_profile_tags()
    before = _values(pydicom.dcmread(source, force=True))
    after = _values(pydicom.dcmread(io.BytesIO(deidentified(source).data)))
    problems = []
    for (path, tag), value in before.items():
        keyword = pydicom.datadict.keyword_for_tag(tag) or f"{tag:08X}"
        if after.get((path, tag)) != value or keyword in ALLOWED_UNCHANGED:
            continue
        vr = pydicom.datadict.dictionary_VR(tag) if pydicom.datadict.dictionary_has_tag(tag) else ""
        if tag in uids and not value.startswith(STANDARD_UID_ROOT):
            problems.append(f"{keyword} (U) kept")
        elif tag in replace and vr != "TM":  # 113107 keeps times
            problems.append(f"{keyword} kept")
    return problems


@pytest.mark.parametrize("source", [s for _, s in FIXTURES], ids=[i for i, _ in FIXTURES])
def test_no_basic_profile_attribute_keeps_its_value(source):
    assert _unchanged(fixture_file(source)) == []


def test_no_basic_profile_attribute_keeps_its_value_in_the_dicomdir_images():
    problems = {path.name: found for path in dicomdir_images() if (found := _unchanged(path))}
    assert problems == {}


def test_the_oracle_sees_a_kept_attribute(monkeypatch):
    """The check can fail: pretend the output is the input itself."""
    source = fixture_file(("pydicom", "CT_small.dcm"))
    raw = source.read_bytes()

    class Unchanged:
        data = raw

    monkeypatch.setattr("tests.imaging.test_oracles_basic_profile.deidentified",
                        lambda path: Unchanged)
    problems = _unchanged(source)

    assert "PatientName kept" in problems and "StudyInstanceUID (U) kept" in problems
