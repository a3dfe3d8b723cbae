"""dicognito 0.19.0 (MIT, a separate code base) as an oracle of invariants, not of values.

Over a multi-file set (pydicom's dicomdirtests tree: three patients, several studies, CR/CT/MR,
one MR study whose FrameOfReferenceUID equals its StudyInstanceUID) both de-identifiers must:
- keep the same UID equality classes: two UID positions (file, path into the dataset) hold the
  same value after de-identification exactly when they did before, whatever the attribute (study,
  series, frame of reference, referenced instances...);
- keep the same patient equality classes (which files belong to one person);
- keep every interval between two moments (DA plus the hour of its paired TM) of the same patient
  (dicognito shifts all dates and times by one
  offset; ours shifts by a keyed offset per patient, so intervals across patients may change).
Only positions both outputs keep are compared (ours removes much more than dicognito).
"""

from collections import defaultdict
from datetime import date
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from tests.imaging.oracle_fixtures import deidentified, dicomdir_images, pydicom_path, require

pytestmark: list[pytest.MarkDecorator] = []  # no database
Position = tuple[int, tuple[int, ...]]  # (file index, tag/item path)
EXTRA_FILES = ("CT_small.dcm", "MR_small.dcm")


def _walk(ds: Dataset, vrs: set[str], prefix: tuple[int, ...] = ()):
    for elem in ds:
        path = (*prefix, int(elem.tag))
        if elem.VR == "SQ":
            for index, item in enumerate(elem.value):
                yield from _walk(item, vrs, (*path, index))
        elif elem.VR in vrs and elem.value not in (None, ""):
            values = elem.value if elem.VM > 1 else [elem.value]
            for index, value in enumerate(values):
                if elem.VR == "UI" and (elem.keyword.endswith("ClassUID")
                                        or elem.keyword == "TransferSyntaxUID"):
                    continue
                yield (*path, -1 - index), str(value).strip()


def _values(datasets: list[Dataset], vr: str) -> dict[Position, str]:
    return {(i, path): value for i, ds in enumerate(datasets) for path, value in _walk(ds, {vr})}


def _moments(ds: Dataset, prefix: tuple[int, ...] = ()):
    """(path, hours since 0001-01-01) of every full DA value, at the hour of its paired TM
    (StudyDate with StudyTime...): dicognito shifts date and time together by whole hours."""
    for elem in ds:
        path = (*prefix, int(elem.tag))
        if elem.VR == "SQ":
            for index, item in enumerate(elem.value):
                yield from _moments(item, (*path, index))
        elif elem.VR == "DA" and (day := _day(str(elem.value or ""))) is not None:
            time = str(ds.get(elem.keyword.replace("Date", "Time"), "") or "").replace(":", "")
            hour = int(time[:2]) if time[:2].isdigit() else 0
            yield path, day.toordinal() * 24 + hour


def _all_moments(datasets: list[Dataset]) -> dict[Position, int]:
    return {(i, path): hours for i, ds in enumerate(datasets) for path, hours in _moments(ds)}


def _partition(values: dict[Position, str], positions: set[Position]) -> set[frozenset]:
    classes: dict[str, set[Position]] = defaultdict(set)
    for position in positions:
        classes[values[position]].add(position)
    return {frozenset(c) for c in classes.values()}


def _day(value: str) -> date | None:
    value = value.strip()
    if len(value) != 8 or not value.isdigit():
        return None
    return date(int(value[:4]), int(value[4:6]), int(value[6:]))


@pytest.fixture(scope="module")
def three_versions() -> tuple[list[Dataset], list[Dataset], list[Dataset]]:
    """(originals, ours, dicognito's) for the same files, in the same order."""
    require("dicognito")
    from dicognito.anonymizer import Anonymizer

    paths: list[Path] = [*dicomdir_images(), *(pydicom_path(n) for n in EXTRA_FILES)]
    originals = [pydicom.dcmread(p, force=True) for p in paths]
    ours = [pydicom.dcmread(BytesIO(deidentified(p).data)) for p in paths]
    anonymizer = Anonymizer(seed="enclave-oracle")  # one anonymizer: consistent across the set
    theirs = []
    for path in paths:
        ds = pydicom.dcmread(path, force=True)
        anonymizer.anonymize(ds)
        theirs.append(ds)
    return originals, ours, theirs


def test_uid_equality_classes_match_dicognito(three_versions):
    originals, ours, _theirs = three_versions
    before, mine, oracle = (_values(v, "UI") for v in three_versions)
    shared = set(before) & set(mine) & set(oracle)
    keywords = ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SOPInstanceUID")
    for i, ds in enumerate(originals):  # the identifying UIDs are all compared, in every file
        for keyword in keywords:
            if keyword in ds:
                tag = int(ds[keyword].tag)
                assert (i, (tag, -1)) in shared, (keyword, i)
    assert _partition(mine, shared) == _partition(oracle, shared)
    assert _partition(mine, shared) == _partition(before, shared)
    changed = [p for p in shared if mine[p] == before[p]]
    assert not changed, "some UIDs were not remapped"
    studies = {ds.StudyInstanceUID for ds in ours}
    assert 3 <= len(studies) < len(ours)  # the classes are not trivial


def _patient_classes(datasets: list[Dataset]) -> set[frozenset[int]]:
    grouped: dict[str, set[int]] = defaultdict(set)
    for i, ds in enumerate(datasets):
        grouped[str(ds.PatientID)].add(i)
    return {frozenset(g) for g in grouped.values()}


def test_patient_equality_classes_match_dicognito(three_versions):
    before, mine, oracle = (_patient_classes(v) for v in three_versions)
    assert mine == oracle == before
    assert len(before) >= 3


def test_date_intervals_within_a_patient_match_dicognito(three_versions):
    originals = three_versions[0]
    before, mine, oracle = (_all_moments(v) for v in three_versions)
    by_patient: dict[str, list[Position]] = defaultdict(list)
    for position in sorted(set(before) & set(mine) & set(oracle)):
        by_patient[str(originals[position[0]].PatientID)].append(position)
    assert len(by_patient) >= 3
    compared = 0
    for positions in by_patient.values():
        anchor = positions[0]
        for position in positions:
            intervals = {v[position] - v[anchor] for v in (before, mine, oracle)}
            assert len(intervals) == 1, (position, anchor)
            compared += 1
        shifts = {mine[p] - before[p] for p in positions}
        assert len(shifts) == 1 and shifts.pop() % (7 * 24) == 0  # one whole-week shift
    assert compared >= len(originals)


def test_the_partition_comparison_can_fail():
    """Merging two series into one in our output is a different equality class: caught."""
    broken = [pydicom.dcmread(BytesIO(deidentified(pydicom_path(n)).data)) for n in EXTRA_FILES]
    broken[1].SeriesInstanceUID = broken[0].SeriesInstanceUID
    clean = [pydicom.dcmread(pydicom_path(n)) for n in EXTRA_FILES]
    before, after = _values(clean, "UI"), _values(broken, "UI")
    shared = set(before) & set(after)
    assert _partition(after, shared) != _partition(before, shared)
