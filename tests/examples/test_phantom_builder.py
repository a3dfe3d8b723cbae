"""The lesion phantom: deterministic, balanced, lesions exactly where the truth says, PHI kept."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest

from examples import phantom as ph

pytestmark = []


def read_labels(path: Path) -> dict[str, str]:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["case_id", "label"]
    return dict(rows[1:])


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    ph.build_phantom(tmp_path / "a", n_sanity=4, n_test=12, seed=7)
    ph.build_phantom(tmp_path / "b", n_sanity=4, n_test=12, seed=7)
    ph.build_phantom(tmp_path / "c", n_sanity=4, n_test=12, seed=8)
    first, second, other = (all_files(tmp_path / name) for name in "abc")
    assert len(first) == 4 + 12 + 4  # cases, two label files, two lesion files
    assert first == second
    assert first.keys() == other.keys()
    assert all(first[name] != other[name] for name in first if name.endswith(".dcm"))


def test_default_build_is_fast(tmp_path: Path) -> None:
    started = time.monotonic()
    ph.build_phantom(tmp_path)
    assert time.monotonic() - started < 10


def test_splits_are_exactly_balanced_with_the_promised_ids(phantom: ph.PhantomSet) -> None:
    for labels_path, case_dir, split, count in [
        (phantom.sanity_labels, phantom.sanity_dir, "sanity", 10),
        (phantom.test_labels, phantom.test_dir, "test", 200),
    ]:
        labels = read_labels(labels_path)
        assert list(labels) == [f"lp-{split}-{n:03d}" for n in range(1, count + 1)]
        assert sorted(p.stem for p in case_dir.glob("*.dcm")) == list(labels)
        assert sum(label == "present" for label in labels.values()) == count // 2
        assert set(labels.values()) == {"present", "absent"}


def test_odd_counts_put_the_extra_case_in_absent(tmp_path: Path) -> None:
    built = ph.build_phantom(tmp_path, n_sanity=3, n_test=7)
    assert list(read_labels(built.sanity_labels).values()).count("present") == 1
    assert list(read_labels(built.test_labels).values()).count("present") == 3


def test_lesion_file_lists_exactly_the_positives(phantom: ph.PhantomSet) -> None:
    for split, labels_path in [("sanity", phantom.sanity_labels), ("test", phantom.test_labels)]:
        labels = read_labels(labels_path)
        lesions = json.loads((labels_path.parent / f"{split}-lesions.json").read_text())
        assert set(lesions) == {case for case, label in labels.items() if label == "present"}
        for lesion in lesions.values():
            assert set(lesion) == {"center", "radius_px"}
            assert 4 <= lesion["radius_px"] <= 12
            assert all(0 <= v < ph.SIZE for v in lesion["center"])


def test_lesions_change_pixels_only_in_positives_and_only_around_the_truth(
    phantom: ph.PhantomSet,
) -> None:
    sources = ph.load_sources()
    specs = ph.plan_split("test", 200, seed=20261126, sources=sources)
    lesions = json.loads((phantom.test_dir.parent / "test-lesions.json").read_text())
    rows, cols = np.mgrid[: ph.SIZE, : ph.SIZE]
    for spec in specs:
        stored = pydicom.dcmread(phantom.test_dir / f"{spec.case_id}.dcm").pixel_array
        without = ph.render_pixels(spec, sources, with_lesion=False)
        changed = stored.astype(np.int64) != without.astype(np.int64)
        if spec.lesion is None:
            assert not changed.any(), spec.case_id
            continue
        truth = lesions[spec.case_id]
        distance = np.hypot(rows - truth["center"][0], cols - truth["center"][1])
        assert changed.any(), spec.case_id
        assert distance[changed].max() <= truth["radius_px"] + ph.EDGE_HALF_WIDTH_PX, spec.case_id
        disk = distance <= truth["radius_px"] * 0.8
        assert (stored[disk].astype(np.int64) - without[disk]).mean() > 0, spec.case_id


def test_files_are_valid_128_pixel_dicom_with_unique_uids(phantom: ph.PhantomSet) -> None:
    sources = ph.load_sources()
    uids = set()
    for path in sorted(phantom.test_dir.glob("*.dcm")):
        dataset = pydicom.dcmread(path)
        source = sources[_source_of(dataset)]
        assert (dataset.Rows, dataset.Columns) == (128, 128)
        assert dataset.pixel_array.shape == (128, 128)
        assert dataset.pixel_array.dtype == source.dtype
        assert dataset.file_meta.MediaStorageSOPInstanceUID == dataset.SOPInstanceUID
        assert dataset.Modality in {"CT", "MR"}
        if "NumberOfFrames" in dataset:
            assert int(dataset.NumberOfFrames) == 1
            assert len(dataset.get("PerFrameFunctionalGroupsSequence", [None])) == 1
        assert not any(0x6000 <= element.tag.group <= 0x60FF for element in dataset)
        uids.add(dataset.SOPInstanceUID)
    assert len(uids) == 200


def test_pixel_spacing_follows_the_resampling() -> None:
    sources = ph.load_sources()
    specs = ph.plan_split("test", 40, seed=20261126, sources=sources)
    checked = 0
    for spec in specs:
        source_spacing = sources[spec.source].header.get("PixelSpacing")
        if source_spacing is None:
            continue
        dataset = ph.case_dataset(spec, sources, seed=20261126)
        scale = 0.5 if spec.factor == -2 else spec.factor
        assert float(dataset.PixelSpacing[0]) == pytest.approx(float(source_spacing[0]) * scale, 1e-5)
        checked += 1
    assert checked > 10


def test_raw_files_still_carry_the_sources_phi(phantom: ph.PhantomSet) -> None:
    """De-identification on import must have real work to do."""
    sources = ph.load_sources()
    seen_private = seen_birth_date = seen_institution = 0
    for path in sorted(phantom.test_dir.glob("*.dcm")):
        dataset = pydicom.dcmread(path)
        source = sources[_source_of(dataset)].header
        assert str(dataset.PatientName).startswith("PHANTOM^")
        assert dataset.PatientID.startswith("PH-")
        for keyword in ("StudyDate", "PatientBirthDate", "InstitutionName", "ReferringPhysicianName"):
            assert dataset.get(keyword) == source.get(keyword), (path.name, keyword)
        seen_private += any(element.tag.is_private for element in dataset)
        seen_birth_date += bool(dataset.get("PatientBirthDate"))
        seen_institution += bool(dataset.get("InstitutionName"))
    assert seen_private > 20
    assert seen_birth_date > 20
    assert seen_institution > 20


PER_CASE_KEYWORDS = {
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "PatientID",
    "PixelSpacing",
    "PerFrameFunctionalGroupsSequence",
    "SharedFunctionalGroupsSequence",
}


def test_headers_do_not_give_the_label_away(phantom: ph.PhantomSet) -> None:
    """Apart from identity, UIDs and spacing, every case of a source has the very same header."""
    headers: dict[str, set[str]] = {}
    for path in sorted(phantom.test_dir.glob("*.dcm")):
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
        kept = [str(element) for element in dataset if element.keyword not in PER_CASE_KEYWORDS]
        headers.setdefault(_source_of(dataset), set()).add("\n".join(kept))
    assert len(headers) >= 5
    assert all(len(variants) == 1 for variants in headers.values()), headers.keys()


def _source_of(dataset: pydicom.Dataset) -> str:
    stem = str(dataset.PatientName).removeprefix("PHANTOM^")
    return f"{stem}.dcm"
