"""Ultrasound region masking (Clean Pixel Data, spec step 7): everything outside the regions the
header declares is zeroed in every frame, the inside is untouched, the SOP Instance UID stays the
keyed one, and the output says 113101 only when masking ran."""

import io

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.pixels import pixel_array

from imaging.deid import deidentify_file
from imaging.pixel_clean import mask_outside_ultrasound_regions
from tests.imaging.conftest import KEY, fixture_bytes, load


def _regions(ds) -> np.ndarray:
    keep = np.zeros((ds.Rows, ds.Columns), dtype=bool)
    for item in ds.SequenceOfUltrasoundRegions:
        x0, y0 = max(item.RegionLocationMinX0, 0), max(item.RegionLocationMinY0, 0)
        keep[y0:item.RegionLocationMaxY1 + 1, x0:item.RegionLocationMaxX1 + 1] = True
    return keep


@pytest.mark.parametrize("name", ["examples_palette.dcm", "examples_ybr_color.dcm"])
def test_outside_the_regions_is_zero_and_inside_is_untouched(name):
    source = load(name)
    before = pixel_array(source)
    keep = _regions(source)

    result = deidentify_file(fixture_bytes(name), key=KEY)
    out = dcmread(io.BytesIO(result.data))
    after = out.pixel_array

    assert result.pixel_review == "risk_modality" and result.actions["pixels_masked"] == 1
    assert after.shape == before.shape
    outside = ~keep if after.ndim < 3 or after.shape[-1] != 3 else (~keep)[..., None]
    inside = keep if after.ndim < 3 or after.shape[-1] != 3 else keep[..., None]
    assert not np.any(np.where(np.broadcast_to(outside, after.shape), after, 0))
    assert np.array_equal(np.where(np.broadcast_to(inside, after.shape), after, 0),
                          np.where(np.broadcast_to(inside, before.shape), before, 0))
    assert 0 < keep.mean() < 1  # the fixture's regions leave something to mask
    assert out.SOPInstanceUID == result.sop_instance_uid  # not a fresh random UID
    assert out.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    codes = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert codes[-1] == "113101"


def test_without_regions_nothing_is_decoded_or_claimed():
    result = deidentify_file(fixture_bytes("examples_rgb_color.dcm"), key=KEY)
    out = dcmread(io.BytesIO(result.data))

    assert result.pixel_review == "risk_modality" and result.actions["pixels_masked"] == 0
    assert "113101" not in [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert np.array_equal(out.pixel_array, load("examples_rgb_color.dcm").pixel_array)


@pytest.mark.parametrize("change", [
    {"Modality": "CT"},
    {"SequenceOfUltrasoundRegions": []},
])
def test_it_declines_what_it_cannot_mask(change):
    ds = load("examples_palette.dcm")
    for keyword, value in change.items():
        setattr(ds, keyword, value)
    assert mask_outside_ultrasound_regions(ds) is None


def test_regions_outside_the_image_are_clipped_or_skipped():
    ds = load("examples_palette.dcm")
    first = ds.SequenceOfUltrasoundRegions[0]
    first.RegionLocationMaxX1, first.RegionLocationMaxY1 = 10_000, 10_000
    for item in list(ds.SequenceOfUltrasoundRegions)[1:]:
        item.RegionLocationMinX0 = 10_000  # empty after clipping

    cleaning = mask_outside_ultrasound_regions(ds)

    assert cleaning is not None and cleaning.regions == 1
    assert ds.pixel_array.shape == (ds.Rows, ds.Columns)
