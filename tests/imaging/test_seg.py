"""DICOM-SEG masks (imaging.seg): real SEG objects written by highdicom from de-identified
images become label maps; broken or ambiguous ones are refused with a named rule."""

import copy
from io import BytesIO

import numpy as np
import pydicom
import pytest

from imaging.masks import MaskRejected
from imaging.seg import SegRejected, read_seg, seg_rules, seg_stem
from tests.imaging.conftest import fixture_bytes
from tests.imaging.oracle_fixtures import pydicom_data_path
from tests.imaging.seg_files import (
    deidentified_source,
    expected_label_map,
    seg_bytes,
    two_squares,
)

pytestmark: list[pytest.MarkDecorator] = []  # no database
CT = (128, 128)
LABELS = ["background", "organ", "lesion"]


@pytest.fixture(scope="module")
def ct():
    return deidentified_source("CT_small.dcm")


def _rule(data: bytes, expected_shape=CT, labels=LABELS) -> str:
    with pytest.raises(MaskRejected) as refused:
        read_seg(data, expected_shape=expected_shape, labels=labels)
    return refused.value.name


def test_segments_named_after_labels_become_those_labels(ct):
    data = seg_bytes([ct], two_squares(CT), ["organ", "lesion"])
    mask = read_seg(data, expected_shape=CT, labels=LABELS)
    assert mask.dtype == np.uint8 and mask.shape == CT
    assert np.array_equal(mask, expected_label_map(CT, 1, 2))


def test_names_match_whatever_their_case_and_order(ct):
    data = seg_bytes([ct], two_squares(CT), [" Organ ", "LESION"])
    mask = read_seg(data, expected_shape=CT, labels=["background", "lesion", "organ"])
    assert np.array_equal(mask, expected_label_map(CT, 2, 1))


def test_unnamed_segments_map_by_number(ct):
    data = seg_bytes([ct], two_squares(CT), ["segment A", "segment B"])
    assert np.array_equal(read_seg(data, expected_shape=CT, labels=LABELS),
                          expected_label_map(CT, 1, 2))


def test_a_mix_of_named_and_unnamed_segments_is_refused(ct):
    assert _rule(seg_bytes([ct], two_squares(CT), ["organ", "tumour"])) == "seg_labels"


def test_segment_numbers_beyond_the_label_set_are_refused(ct):
    data = seg_bytes([ct], two_squares(CT), ["a", "b"])
    assert _rule(data, labels=["background", "lesion"]) == "seg_numbers"


def test_overlapping_segments_are_refused_for_a_label_map(ct):
    assert _rule(seg_bytes([ct], two_squares(CT, overlap=True), ["organ", "lesion"])) == (
        "seg_overlap")


def test_overlap_within_one_label_is_allowed(ct):
    data = seg_bytes([ct], two_squares(CT, overlap=True), ["lesion", "Lesion"])
    mask = read_seg(data, expected_shape=CT, labels=LABELS)
    assert set(np.unique(mask)) == {0, 2} and int((mask == 2).sum()) == 100 + 100 - 25


def test_a_seg_of_another_size_is_refused(ct):
    assert _rule(seg_bytes([ct], two_squares(CT), ["organ", "lesion"]),
                 expected_shape=(64, 64)) == "shape"


def test_fractional_segments_are_thresholded_at_one_half(ct):
    pixels = np.zeros((1, *CT, 1), dtype=np.float32)
    pixels[0, 0:10, :, 0] = 0.3  # below one half: background
    pixels[0, 20:30, :, 0] = 0.8
    data = seg_bytes([ct], pixels, ["lesion"], segmentation_type="FRACTIONAL")
    mask = read_seg(data, expected_shape=CT, labels=LABELS)
    assert not mask[0:10].any() and (mask[20:30] == 2).all() and int(mask.sum()) == 2 * 10 * 128


def test_a_labelmap_seg_is_read_with_its_background_segment_left_out(ct):
    label_values = expected_label_map(CT, 1, 2)[None]  # (1, rows, columns) of segment numbers
    data = seg_bytes([ct], label_values, ["organ", "lesion"], segmentation_type="LABELMAP")
    mask = read_seg(data, expected_shape=CT, labels=["background", "lesion", "organ"])
    assert np.array_equal(mask, expected_label_map(CT, 2, 1))


def test_a_multi_frame_seg_is_read_in_frames_rows_columns():
    source = deidentified_source(path=pydicom_data_path("eCT_Supplemental.dcm"))  # 2 x 512 x 512
    frames, rows, columns = int(source.NumberOfFrames), int(source.Rows), int(source.Columns)
    pixels = np.zeros((frames, rows, columns, 1), dtype=bool)
    pixels[1, 100:130, 200:240, 0] = True  # the second frame only
    data = seg_bytes([source], pixels, ["lesion"])
    mask = read_seg(data, expected_shape=(frames, rows, columns), labels=LABELS)
    assert mask.shape == (frames, rows, columns)
    assert np.array_equal(mask, pixels[..., 0].astype(np.uint8) * 2)
    assert _rule(data, expected_shape=(rows, columns)) == "seg_frames"  # a one-frame case


def test_a_seg_without_segments_is_refused(ct):
    ds = pydicom.dcmread(BytesIO(seg_bytes([ct], two_squares(CT), ["organ", "lesion"])))
    ds.SegmentSequence = []
    buffer = BytesIO()
    ds.save_as(buffer)
    assert _rule(buffer.getvalue()) == "seg_no_segments"


def test_a_seg_derived_from_two_images_is_refused(ct):
    other = copy.deepcopy(ct)
    other.SOPInstanceUID = "2.25.1234567890"
    other.ImagePositionPatient = [float(v) + 5 for v in ct.ImagePositionPatient]
    pixels = np.zeros((2, *CT, 1), dtype=bool)
    pixels[:, 5:9, 5:9, 0] = True
    assert _rule(seg_bytes([ct, other], pixels, ["lesion"])) == "seg_sources"


@pytest.mark.parametrize("data", [
    pytest.param(b"", id="empty"),
    pytest.param(b"\x00" * 128 + b"DICM" + b"\x02\x00", id="truncated-meta"),
    pytest.param(fixture_bytes("CT_small.dcm"), id="an-image-not-a-seg"),
])
def test_what_is_not_a_seg_is_refused(data):
    assert _rule(data) == "seg"


def test_a_truncated_seg_is_refused(ct):
    data = seg_bytes([ct], two_squares(CT), ["organ", "lesion"])
    assert _rule(data[: len(data) - 700]) == "seg"


def test_rules_are_categorical_and_the_stem_is_the_case_id():
    assert all(isinstance(text, str) and text for text in seg_rules().values())
    assert isinstance(SegRejected("seg"), MaskRejected)
    assert seg_stem("lp-001.dcm") == "lp-001" and seg_stem("lp-001.DCM") == "lp-001"
    assert seg_stem(".dcm") is None and seg_stem("lp-001.png") is None
