"""Ground-truth import of DICOM-SEG masks: a SEG that highdicom writes from the stored,
de-identified CT becomes the case's hidden label map; a bad one refuses the whole import."""

from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.files.storage import default_storage

from challenges.errors import ImportRejected
from challenges.models import GroundTruth, Phase, TaskType
from challenges.services import cases_import, challenge_create, phase_create
from challenges.truths import load_mask, masks_import
from tests.imaging.conftest import fixture_bytes
from tests.imaging.seg_files import deidentified_source, expected_label_map, seg_bytes, two_squares

pytestmark = pytest.mark.django_db
LABELS = ["background", "organ", "lesion"]
CT = (128, 128)


@pytest.fixture
def phase(world, tmp_path, isolated_storage) -> Phase:
    challenge = challenge_create(society=world.society, slug="seg-truth", title="SEG truth",
                                 labels=LABELS, task_type=TaskType.SEGMENTATION)
    phase = phase_create(challenge=challenge, slug="test", title="Test", is_hidden=True)
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "ct-001.dcm").write_bytes(fixture_bytes("CT_small.dcm"))
    (cases / "ct-002.dcm").write_bytes(fixture_bytes("CT_small.dcm"))
    cases_import(phase=phase, path=cases)
    return phase


def stored_case_image(phase: Phase, case_id: str) -> pydicom.Dataset:
    """The de-identified image the case stores: the SEG is drawn on what the organiser sees."""
    case_file = phase.cases.get(case_id=case_id).files.get()
    with default_storage.open(case_file.storage_key, "rb") as handle:
        return pydicom.dcmread(BytesIO(handle.read()))


def test_a_seg_drawn_on_the_stored_ct_becomes_the_hidden_label_map(phase, tmp_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    source = stored_case_image(phase, "ct-001")
    (masks / "ct-001.dcm").write_bytes(seg_bytes([source], two_squares(CT), ["organ", "lesion"]))
    reversed_labels = seg_bytes([source], two_squares(CT), ["lesion", "organ"])
    (masks / "ct-002.dcm").write_bytes(reversed_labels)

    report = masks_import(phase=phase, path=masks)

    assert report.cases == 2
    truths = {t.case.case_id: t.value["mask"] for t in
              GroundTruth.objects.filter(case__phase=phase).select_related("case")}
    assert truths["ct-001"]["shape"] == list(CT)
    assert np.array_equal(load_mask(truths["ct-001"]), expected_label_map(CT, 1, 2))
    assert np.array_equal(load_mask(truths["ct-002"]), expected_label_map(CT, 2, 1))


@pytest.mark.parametrize(("kind", "expected"), [
    ("size", "differs from the case image (128 x 128)"),
    ("overlap", "segments overlap"),
    ("labels", "segment labels are not in the challenge's label set"),
    ("image", "not a readable DICOM segmentation"),
])
def test_a_bad_seg_refuses_the_import_and_stores_nothing(phase, tmp_path, isolated_storage,
                                                         kind, expected):
    masks = tmp_path / "masks"
    masks.mkdir()
    source = stored_case_image(phase, "ct-001")
    (masks / "ct-001.dcm").write_bytes(seg_bytes([source], two_squares(CT), ["organ", "lesion"]))
    if kind == "size":
        small = deidentified_source("MR_small.dcm")  # 64 x 64
        data = seg_bytes([small], two_squares((64, 64)), ["organ", "lesion"])
    elif kind == "overlap":
        data = seg_bytes([source], two_squares(CT, overlap=True), ["organ", "lesion"])
    elif kind == "labels":
        data = seg_bytes([source], two_squares(CT), ["organ", "tumour"])
    else:
        data = fixture_bytes("CT_small.dcm")
    (masks / "ct-002.dcm").write_bytes(data)

    with pytest.raises(ImportRejected) as refused:
        masks_import(phase=phase, path=masks)

    assert refused.value.code == "masks_rejected"
    assert "ct-002.dcm: " in refused.value.message and expected in refused.value.message
    assert not GroundTruth.objects.filter(case__phase=phase).exists()
    truths = Path(isolated_storage, "truths")
    assert not truths.exists() or not [p for p in truths.rglob("*") if p.is_file()]
