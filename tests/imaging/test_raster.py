"""PNG/JPEG intake: metadata is stripped, pixels survive, hostile files are refused."""

from io import BytesIO

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from imaging.deid import deidentify_file
from imaging.errors import ImageFileRejected
from imaging.raster import SAFE_PNG_CHUNKS, png_chunk_types
from tests.imaging.conftest import KEY

pytestmark: list[pytest.MarkDecorator] = []  # pure Python: no database
PHI = "Jane Doe, MRN 00123456"
GPS_IFD, GPS_LATITUDE_REF, EXIF_ORIENTATION, IMAGE_DESCRIPTION = 0x8825, 1, 0x0112, 0x010E


def _gradient(mode: str = "RGB", size: tuple[int, int] = (40, 30)) -> Image.Image:
    width, height = size
    values = (np.arange(width * height) % 251).astype(np.uint8).reshape(height, width)
    gray = Image.fromarray(values, mode="L")
    return gray if mode == "L" else gray.convert(mode)


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[IMAGE_DESCRIPTION] = PHI
    exif.get_ifd(GPS_IFD)[GPS_LATITUDE_REF] = "N"
    return exif


def _png_with_metadata() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Patient", PHI)
    info.add_text("Comment", PHI, zip=True)
    info.add_itxt("Description", PHI, lang="en", tkey="Beschreibung")
    buffer = BytesIO()
    _gradient().save(buffer, format="PNG", pnginfo=info, exif=_exif(), dpi=(300, 300),
                     icc_profile=b"fake-icc-" + PHI.encode())
    return buffer.getvalue()


def _jpeg(orientation: int = 1) -> bytes:
    exif = _exif()
    exif[EXIF_ORIENTATION] = orientation
    buffer = BytesIO()
    _gradient(size=(40, 30)).save(buffer, format="JPEG", exif=exif, comment=PHI.encode(),
                                  quality=95)
    return buffer.getvalue()


def test_png_text_exif_icc_and_phys_chunks_are_stripped():
    raw = _png_with_metadata()
    assert {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"iCCP", b"pHYs"} <= set(png_chunk_types(raw))
    result = deidentify_file(raw, key=KEY)
    assert result.kind == "png" and result.modality is None and result.frames == 1
    assert set(png_chunk_types(result.data)) <= SAFE_PNG_CHUNKS
    assert PHI.encode() not in result.data and b"Jane" not in result.data
    with Image.open(BytesIO(result.data)) as out, Image.open(BytesIO(raw)) as original:
        assert out.info == {} and len(out.getexif()) == 0
        assert np.array_equal(np.asarray(out), np.asarray(original))
    assert result.actions["exif_removed"] and result.actions["icc_profile_removed"]


def test_jpeg_exif_gps_and_comment_are_stripped_and_output_is_png():
    raw = _jpeg()
    assert PHI.encode() in raw
    result = deidentify_file(raw, key=KEY, filename="photo.dcm")
    assert result.data.startswith(b"\x89PNG") and result.kind == "png"
    assert PHI.encode() not in result.data
    assert result.actions["source_kind"] == "jpeg"
    with Image.open(BytesIO(result.data)) as out:
        assert out.info == {} and out.size == (40, 30) and (result.columns, result.rows) == (40, 30)


def test_exif_orientation_is_applied_before_it_is_dropped():
    result = deidentify_file(_jpeg(orientation=6), key=KEY)  # 90 degrees clockwise
    assert (result.columns, result.rows) == (30, 40)
    assert result.actions["exif_orientation_applied"] is True


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16", "1"])
def test_pixel_values_survive_in_their_mode(mode: str):
    image = _gradient("L")
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image).astype(np.uint16) * 257)
    elif mode != "L":
        image = image.convert(mode)
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    result = deidentify_file(buffer.getvalue(), key=KEY)
    with Image.open(BytesIO(result.data)) as out:
        assert np.array_equal(np.asarray(out), np.asarray(image))


def test_palette_masks_keep_indices_and_palette():
    mask = Image.fromarray(np.array([[0, 1], [2, 1]], dtype=np.uint8), mode="P")
    mask.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    buffer = BytesIO()
    mask.save(buffer, format="PNG")
    result = deidentify_file(buffer.getvalue(), key=KEY)
    with Image.open(BytesIO(result.data)) as out:
        assert out.mode == "P"
        assert np.array_equal(np.asarray(out), [[0, 1], [2, 1]])
        assert (out.getpalette() or [])[:9] == [0, 0, 0, 255, 0, 0, 0, 255, 0]


def _code(data: bytes) -> str:
    with pytest.raises(ImageFileRejected) as caught:
        deidentify_file(data, key=KEY)
    return caught.value.code


def test_images_over_16k_a_side_or_pillows_bomb_limit_are_too_large():
    buffer = BytesIO()
    Image.new("1", (16385, 1)).save(buffer, format="PNG")
    assert _code(buffer.getvalue()) == "too_large"
    buffer = BytesIO()
    Image.new("1", (16000, 16000)).save(buffer, format="PNG")  # 256 Mpx, a few KB on disk
    assert _code(buffer.getvalue()) == "too_large"


def test_truncated_png_and_jpeg_are_unreadable():
    png, jpeg = _png_with_metadata(), _jpeg()
    assert _code(png[: len(png) - 200]) == "unreadable"
    assert _code(jpeg[: len(jpeg) // 2]) == "unreadable"


def test_a_png_signature_on_garbage_is_unreadable():
    assert _code(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50) == "unreadable"
