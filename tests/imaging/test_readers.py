"""read_pixels returns stored values; render_png gives a small, windowed preview."""

from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from imaging.deid import deidentify_file
from imaging.readers import read_pixels, render_png
from tests.imaging.conftest import KEY, fixture_bytes, load, to_bytes

pytestmark: list[pytest.MarkDecorator] = []  # pure Python: no database


def _png(data: bytes) -> Image.Image:
    image = Image.open(BytesIO(data))
    image.load()
    return image


def _synthetic_ct(**tags: object) -> bytes:
    """CT_small with known Hounsfield values: air, soft tissue at 40 HU, bone, in bands."""
    ds = load("CT_small.dcm")
    hu = np.zeros((128, 128), dtype=np.int16)
    hu[:, :40], hu[:, 40:80], hu[:, 80:] = -1000, 40, 1000
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.PixelRepresentation, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 16, 16, 15
    ds.PixelData = (hu + 1024).astype(np.int16).tobytes()
    for keyword in ("WindowCenter", "WindowWidth"):
        if keyword in ds:
            delattr(ds, keyword)
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    return to_bytes(ds)


def test_read_pixels_matches_pydicom_and_keeps_stored_values():
    data = deidentify_file(fixture_bytes("emri_small.dcm"), key=KEY).data
    pixels = read_pixels(data, "dicom")
    assert pixels.shape == (10, 64, 64)
    assert np.array_equal(pixels, load("emri_small.dcm").pixel_array)


def test_read_pixels_of_a_palette_png_gives_indices():
    mask = Image.fromarray(np.array([[0, 3], [7, 3]], dtype=np.uint8), mode="P")
    mask.putpalette([0, 0, 0] * 256)
    buffer = BytesIO()
    mask.save(buffer, format="PNG")
    assert np.array_equal(read_pixels(buffer.getvalue(), "png"), [[0, 3], [7, 3]])


def test_ct_without_window_tags_uses_a_soft_tissue_window():
    image = _png(render_png(_synthetic_ct(), "dicom"))
    values = np.asarray(image)
    assert image.mode == "L"
    assert values[0, 10] == 0 and values[0, 100] == 255
    assert abs(int(values[0, 60]) - 128) <= 2


def test_window_tags_win_over_the_default():
    values = np.asarray(_png(render_png(_synthetic_ct(WindowCenter=1000, WindowWidth=100),
                                        "dicom")))
    assert values[0, 60] == 0 and abs(int(values[0, 100]) - 128) <= 2


def test_monochrome1_is_inverted():
    values = np.asarray(_png(render_png(_synthetic_ct(PhotometricInterpretation="MONOCHROME1"),
                                        "dicom")))
    assert values[0, 10] == 255 and values[0, 100] == 0


def test_non_ct_without_window_uses_min_max_and_previews_are_small():
    image = _png(render_png(fixture_bytes("RG1_UNCR.dcm"), "dicom", max_size=256))
    assert max(image.size) == 256 and image.mode == "L"
    values = np.asarray(image)
    assert values.min() < 40 and values.max() > 215


def test_multiframe_shows_the_middle_frame():
    data = fixture_bytes("emri_small.dcm")
    frames = load("emri_small.dcm").pixel_array
    preview = np.asarray(_png(render_png(data, "dicom")))
    middle = frames[5].astype(float)
    assert np.corrcoef(preview.ravel(), middle.ravel())[0, 1] > 0.95


def test_colour_dicom_and_raster_stay_in_colour():
    assert _png(render_png(fixture_bytes("examples_rgb_color.dcm"), "dicom")).mode == "RGB"
    buffer = BytesIO()
    Image.new("RGB", (1000, 500), (200, 10, 10)).save(buffer, format="JPEG")
    image = _png(render_png(buffer.getvalue(), "jpeg"))
    assert image.mode == "RGB" and image.size == (512, 256)


def test_sixteen_bit_png_is_scaled_for_display():
    buffer = BytesIO()
    Image.fromarray(np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)).save(buffer, "PNG")
    values = np.asarray(_png(render_png(buffer.getvalue(), "png")))
    assert values.min() == 0 and values.max() == 255


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        render_png(b"", "nifti")
    with pytest.raises(ValueError):
        read_pixels(b"", "tiff")
