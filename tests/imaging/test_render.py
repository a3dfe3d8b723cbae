"""imaging.render: windowed 8-bit PNGs of one frame, checked against hand-computed pixels."""

import gzip
import hashlib
import os
import shutil
from io import BytesIO

import nibabel
import numpy as np
import pytest
from PIL import Image
from pydicom.pixels import pixel_array

from imaging.render import (
    PRESETS,
    RenderError,
    RenderParams,
    apply_window,
    presets_for,
    render,
    render_cached,
)
from tests.imaging.conftest import fixture_bytes, load, to_bytes

pytestmark: list[pytest.MarkDecorator] = []  # pure Python: no database


def pixels(png: bytes) -> np.ndarray:
    image = Image.open(BytesIO(png))
    image.load()
    return np.asarray(image)


def banded_ct(**tags: object) -> bytes:
    """CT_small with three bands of known Hounsfield units: -1000 | 40 | 1000 (stored + 1024)."""
    ds = load("CT_small.dcm")
    hu = np.zeros((128, 128), dtype=np.int16)
    hu[:, :40], hu[:, 40:80], hu[:, 80:] = -1000, 40, 1000
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.PixelData = (hu + 1024).astype(np.int16).tobytes()
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    return to_bytes(ds)


def bands(png: bytes) -> tuple[int, int, int]:
    values = pixels(png)
    return int(values[10, 10]), int(values[10, 60]), int(values[10, 100])


def test_the_linear_window_by_hand():
    # width 400: the ramp runs from c - 0.5 - 199.5 to c - 0.5 + 199.5
    values = np.array([-160.0, 40.0, 239.5, 240.0, -1000.0])
    assert apply_window(values, 40, 400).tolist() == [0, 128, 255, 255, 0]
    assert apply_window(values, 40, 400, invert=True).tolist() == [255, 127, 0, 0, 255]


@pytest.mark.parametrize(("preset", "expected"), [
    ("soft-tissue", (0, 128, 255)),   # 40 HU: (40 - 39.5) / 399 + 0.5 = 0.50125 -> 127.8
    ("lung", (60, 236, 255)),         # -1000: (-1000 + 600.5) / 1499 + 0.5 = 0.23349 -> 59.5
    ("bone", (0, 77, 213)),           # 40: (40 - 399.5) / 1799 + 0.5 = 0.30017 -> 76.5
    ("brain", (0, 129, 255)),         # 40: (40 - 39.5) / 79 + 0.5 = 0.50633 -> 129.1
])
def test_ct_presets_window_hounsfield_units(preset, expected):
    center, width = PRESETS[preset]
    hand = tuple(round(min(max((hu - (center - 0.5)) / (width - 1) + 0.5, 0), 1) * 255)
                 for hu in (-1000, 40, 1000))
    rendering = render(banded_ct(), "dicom", RenderParams(preset=preset))
    assert bands(rendering.png) == hand
    assert (rendering.center, rendering.width, rendering.window) == (center, width, preset)
    assert hand == expected


def test_ct_without_a_declared_window_defaults_to_soft_tissue():
    rendering = render(banded_ct(), "dicom")
    assert rendering.window == "soft-tissue"
    assert bands(rendering.png) == (0, 128, 255)


def test_a_declared_window_is_the_default_and_a_requested_one_wins():
    declared = render(banded_ct(WindowCenter=1000, WindowWidth=100), "dicom")
    assert declared.window == "file" and bands(declared.png) == (0, 0, 129)  # 0.50505 -> 128.8
    custom = render(banded_ct(WindowCenter=1000, WindowWidth=100), "dicom",
                    RenderParams(center=-1000, width=2))
    # width 2: values below c - 1 are 0, at c - 0.5 + 0.5 = c they reach 255
    assert custom.window == "custom" and bands(custom.png) == (255, 255, 255)
    assert bands(render(banded_ct(), "dicom", RenderParams(center=40, width=400)).png) == (
        0, 128, 255)


def test_a_width_below_one_is_not_a_window_and_falls_back():
    assert render(banded_ct(), "dicom", RenderParams(center=40, width=0)).window == "soft-tissue"


def test_monochrome1_is_inverted():
    rendering = render(banded_ct(PhotometricInterpretation="MONOCHROME1"), "dicom")
    assert bands(rendering.png) == (255, 127, 0)


def test_the_modality_lut_is_applied_to_the_real_ct_small():
    data = fixture_bytes("CT_small.dcm")
    stored = int(pixel_array(load("CT_small.dcm"))[64, 64])
    hu = stored * 1 - 1024  # RescaleSlope 1, RescaleIntercept -1024
    expected = round(min(max((hu - 39.5) / 399 + 0.5, 0), 1) * 255)
    assert int(pixels(render(data, "dicom").png)[64, 64]) == expected


def test_mr_uses_its_declared_window_and_auto_takes_percentiles():
    data = fixture_bytes("MR_small.dcm")
    raw = pixel_array(load("MR_small.dcm")).astype(np.float64)
    declared = render(data, "dicom")
    assert (declared.center, declared.width, declared.window) == (600.0, 1600.0, "file")
    auto = render(data, "dicom", RenderParams(preset="auto"))
    low, high = np.percentile(raw, [1, 99])
    assert auto.window == "auto"
    assert auto.center == pytest.approx((low + high) / 2)
    assert auto.width == pytest.approx(high - low)
    out = pixels(auto.png)
    assert out[raw <= low].max() == 0 and out[raw >= high].min() == 255
    assert presets_for("MR") == ["auto"] and presets_for("CT")[:4] == list(PRESETS)


def test_a_multi_frame_file_renders_the_frame_asked_for():
    data = fixture_bytes("emri_small.dcm")
    frames = pixel_array(load("emri_small.dcm")).astype(np.float64)
    third = render(data, "dicom", RenderParams(frame=3, center=200, width=101))
    assert (third.frames, third.frame) == (10, 3)
    expected = np.clip((frames[3] - 199.5) / 100 + 0.5, 0, 1) * 255
    assert np.array_equal(pixels(third.png), np.round(expected).astype(np.uint8))
    assert render(data, "dicom").frame == 5  # the middle one by default
    assert render(data, "dicom", RenderParams(frame=99)).frame == 9  # clamped
    assert render(data, "dicom", RenderParams(frame=-4)).frame == 0


def test_rgb_is_passed_through():
    data = fixture_bytes("SC_rgb.dcm")
    rendering = render(data, "dicom", RenderParams(preset="bone"))
    assert rendering.window == "" and rendering.center is None
    assert np.array_equal(pixels(rendering.png), pixel_array(load("SC_rgb.dcm")))


def test_the_output_is_bounded_and_keeps_its_aspect():
    rendering = render(fixture_bytes("US1_UNCR.dcm"), "dicom", RenderParams(max_size=256))
    assert Image.open(BytesIO(rendering.png)).size == (256, 192)
    assert (rendering.rows, rendering.columns) == (480, 640)
    huge = render(fixture_bytes("CT_small.dcm"), "dicom", RenderParams(max_size=10**9))
    assert Image.open(BytesIO(huge.png)).size == (128, 128)  # never enlarged
    tiny = render(fixture_bytes("CT_small.dcm"), "dicom", RenderParams(max_size=1))
    assert Image.open(BytesIO(tiny.png)).size == (32, 32)  # clamped to MIN_SIZE


def test_an_8_bit_png_is_shown_as_stored_unless_windowed():
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    buffer = BytesIO()
    Image.fromarray(values, mode="L").save(buffer, format="PNG")
    assert np.array_equal(pixels(render(buffer.getvalue(), "png").png), values)
    windowed = pixels(render(buffer.getvalue(), "png", RenderParams(center=100, width=2)).png)
    assert windowed.flat[99] == 0 and windowed.flat[100] == 255


def test_a_colour_jpeg_stays_colour():
    buffer = BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 30)).save(buffer, format="JPEG", quality=95)
    out = pixels(render(buffer.getvalue(), "jpeg").png)
    assert out.shape == (20, 40, 3) and out[5, 5, 0] > 150 and out[5, 5, 1] < 80


def test_nifti_slices_are_frames_of_rows_j_and_columns_i():
    volume = np.zeros((6, 4, 3), dtype=np.int16)  # (i, j, k)
    volume[5, 0, 2] = 1000  # column 5, row 0 of frame 2
    image = nibabel.Nifti1Image(volume, affine=np.eye(4))
    data = gzip.compress(image.to_bytes())
    rendering = render(data, "nifti", RenderParams(frame=2, center=500, width=2))
    out = pixels(rendering.png)
    assert (rendering.frames, out.shape) == (3, (4, 6))
    assert out[0, 5] == 255 and out.sum() == 255


def test_bad_bytes_raise_render_error():
    for kind in ("dicom", "png", "jpeg", "nifti"):
        with pytest.raises(RenderError):
            render(b"pixels-but-not-an-image", kind)
    with pytest.raises(RenderError):
        render(b"", "tiff")


@pytest.mark.django_db(databases=[])
def test_renderings_are_cached_by_content_and_params(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "render-test"}}
    data = banded_ct()
    sha = hashlib.sha256(data).hexdigest()
    loads: list[int] = []

    def load() -> bytes:
        loads.append(1)
        return data

    first = render_cached(sha256=sha, kind="dicom", load=load, params=RenderParams(preset="lung"))
    again = render_cached(sha256=sha, kind="dicom", load=load, params=RenderParams(preset="lung"))
    other = render_cached(sha256=sha, kind="dicom", load=load, params=RenderParams(preset="bone"))
    assert first == again and first.png != other.png and len(loads) == 2
    with pytest.raises(RenderError):
        render_cached(sha256="0" * 64, kind="dicom", load=load)


def test_a_mask_frame_becomes_a_transparent_overlay_with_an_opaque_outline():
    from imaging.render import render_mask

    mask = np.zeros((3, 8, 8), dtype=np.uint8)
    mask[1, 2:6, 2:6] = 1  # a 4x4 square on frame 1
    out = pixels(render_mask(mask, frame=1, colour=(10, 20, 30), alpha=100))
    assert out.shape == (8, 8, 4)
    assert out[0, 0, 3] == 0  # outside: transparent
    assert tuple(out[2, 2]) == (10, 20, 30, 255)  # the outline
    assert tuple(out[3, 3]) == (10, 20, 30, 100)  # the inside
    assert pixels(render_mask(mask, frame=0))[..., 3].max() == 0
    with pytest.raises(RenderError):
        render_mask(np.zeros((2, 2, 2, 2)))


@pytest.mark.parametrize("name", ["JPEG-LL.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm",
                                  "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm",
                                  "MR_small_RLE.dcm"])
def test_lossless_compressed_dicom_renders_as_its_uncompressed_pixels(name):
    """JPEG Lossless (process 14; python-gdcm), JPEG-LS, JPEG 2000 and RLE all decode, and a
    lossless codec gives exactly the pixels pydicom reads: the picture is not a placeholder."""
    data = fixture_bytes(name)
    rendering = render(data, "dicom", RenderParams(preset="auto"))

    assert rendering.rows > 0 and rendering.columns > 0
    shown = pixels(rendering.png)
    assert shown.std() > 0  # a placeholder is one flat grey
    assert pixel_array(BytesIO(data)).shape[-2:] == (rendering.rows, rendering.columns)


def test_12_bit_jpeg_extended_renders_through_dcmtk():
    """No Python decoder here reads JPEG Extended (process 2/4); dcmtk's dcmdjpeg does (CI
    installs dcmtk; elsewhere the test skips without it)."""
    if shutil.which("dcmdjpeg") is None:
        if os.environ.get("CI"):
            raise AssertionError("dcmdjpeg (dcmtk) is missing")
        pytest.skip("dcmdjpeg (dcmtk) is not installed")
    data = fixture_bytes("JPGExtended.dcm")
    with pytest.raises(Exception):  # noqa: B017 (the premise: pydicom alone cannot)
        pixel_array(BytesIO(data))

    rendering = render(data, "dicom", RenderParams(preset="auto"))

    assert (rendering.rows, rendering.columns) == (1024, 256)
    assert pixels(rendering.png).std() > 0


def test_without_dcmtk_jpeg_extended_is_a_render_error(monkeypatch):
    monkeypatch.setattr("imaging.render.shutil.which", lambda name: None)
    with pytest.raises(RenderError):
        render(fixture_bytes("JPGExtended.dcm"), "dicom")
