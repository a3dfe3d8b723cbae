"""The leak scan passes clean output and catches identifying values that slip through."""

import random

import pytest

import imaging.dicom_deid as dicom_deid
from imaging.deid import deidentify_file
from imaging.dicom_write import Encoded
from imaging.errors import ImageFileRejected
from imaging.leakscan import SCAN_CHUNK_BYTES, VECTORISED_SCAN_BYTES, LeakScanner, occurring
from imaging.profile import KEEP
from tests.imaging.conftest import KEY, fixture_bytes, load, to_bytes

pytestmark: list[pytest.MarkDecorator] = []  # pure Python: no database
LATIN = ["iso8859"]


def _scanner(*needles: bytes, legit: tuple[str, ...] = ()) -> LeakScanner:
    scanner = LeakScanner()
    for needle in needles:
        scanner.add_needle_text(needle)
    scanner.add_legit(list(legit), LATIN)
    return scanner


def test_a_needle_in_the_header_is_a_hit_in_ascii_and_utf16():
    scanner = _scanner(b"Doe^Jane")
    assert scanner.find_leaks(b"....Doe^Jane....") == 1
    assert scanner.find_leaks(b"..." + "Doe^Jane".encode("utf-16-le") + b"...") == 1
    assert scanner.find_leaks(b"nothing to see") == 0


def test_values_kept_by_design_are_not_leaks():
    scanner = _scanner(b"SIEMENS", legit=("SIEMENS",))
    assert scanner.find_leaks(b"..SIEMENS..") == 0


def test_short_values_are_not_searched_and_multi_values_are_split():
    scanner = _scanner(b"JD", b"ABC\\DEFG")
    assert scanner.needles == {b"ABC", b"DEFG"}


def test_encapsulated_pixels_are_searched_for_long_needles_only():
    scanner = _scanner(b"Doe^Jane", b"XYZ")
    assert scanner.find_leaks(b"header", b"\xff\xfe JPEG COM Doe^Jane") == 1
    assert scanner.find_leaks(b"header", b"\x00XYZ\x00") == 0


def test_clean_outputs_pass_the_scan():
    for name in ("CT_small.dcm", "examples_overlay.dcm", "MR_small_RLE.dcm"):
        result = deidentify_file(fixture_bytes(name), key=KEY)
        assert result.actions["leak_scan"]["hits"] == 0


def test_a_writer_that_leaks_the_name_is_caught(monkeypatch):
    real_encode = dicom_deid.encode

    def leaky(*args, **kwargs) -> Encoded:
        encoded = real_encode(*args, **kwargs)
        return Encoded(encoded.header + b"CompressedSamples^CT1", encoded.pixels, encoded.trailer)

    monkeypatch.setattr(dicom_deid, "encode", leaky)
    with pytest.raises(ImageFileRejected) as caught:
        deidentify_file(fixture_bytes("CT_small.dcm"), key=KEY)
    assert caught.value.code == "leak_detected"


def test_a_utf16_copy_of_an_original_uid_is_caught(monkeypatch):
    original_uid = str(load("CT_small.dcm").StudyInstanceUID)
    real_encode = dicom_deid.encode

    def leaky(*args, **kwargs) -> Encoded:
        encoded = real_encode(*args, **kwargs)
        header = encoded.header[:200] + original_uid.encode("utf-16-le") + encoded.header[200:]
        return Encoded(header, encoded.pixels, encoded.trailer)

    monkeypatch.setattr(dicom_deid, "encode", leaky)
    with pytest.raises(ImageFileRejected, match="leak_detected"):
        deidentify_file(fixture_bytes("CT_small.dcm"), key=KEY)


def test_a_faulty_table_that_keeps_a_name_is_caught(monkeypatch):
    ds = load("CT_small.dcm")
    ds.OperatorsName = "Operator^Olga"
    monkeypatch.setattr(dicom_deid, "keep_for", lambda sop_class: KEEP | {0x00081070})
    with pytest.raises(ImageFileRejected, match="leak_detected"):
        deidentify_file(to_bytes(ds), key=KEY)


def test_a_faulty_table_that_keeps_a_private_tag_is_caught(monkeypatch):
    ds = load("CT_small.dcm")
    block = ds.private_block(0x0029, "ACME 1.0", create=True)
    block.add_new(0x10, "LO", "Private Patient Doe")
    tag = block.get_tag(0x10)
    monkeypatch.setattr(dicom_deid, "keep_for", lambda sop_class: KEEP | {tag, 0x00290010})
    monkeypatch.setattr(dicom_deid, "is_always_removed", lambda tag: False)
    with pytest.raises(ImageFileRejected, match="leak_detected"):
        deidentify_file(to_bytes(ds), key=KEY)


def test_needles_come_from_nested_and_private_values():
    ds = load("CT_small.dcm")
    block = ds.private_block(0x0029, "ACME 1.0", create=True)
    block.add_new(0x10, "LO", "Secret Hospital Ward")
    scanner = LeakScanner()
    scanner.add_dataset(ds, LATIN)
    assert b"Secret Hospital Ward" in scanner.needles
    assert b"CompressedSamples" in scanner.needles and b"CT1" in scanner.needles
    assert b"JFK IMAGING CENTER" in scanner.needles and b"20040119" in scanner.needles
    assert b"1.2.840.10008.5.1.4.1.1.2" in scanner.needles  # filtered later by legit text


@pytest.mark.parametrize("background", ["random", "zeros", "prefixes"])
def test_the_vectorised_pixel_search_finds_exactly_what_one_search_per_needle_finds(background):
    """Random data take the vectorised path (a needle straddles two chunks); data full of needle
    prefixes take the per-needle fallback."""
    rng = random.Random(7)
    needles = {b"19500112", "Doe^Jane".encode("utf-16-le"), b"1.3.6.1.4.1.5962.1.2", b"Doe^Jan",
               b"\x00\x00\x00\x00\x01", b"JPEG COM"}
    size = SCAN_CHUNK_BYTES * 2 + 3
    if background == "random":
        buffer = bytearray(rng.randbytes(size))
    elif background == "zeros":
        buffer = bytearray(size)
    else:  # every needle's first four bytes everywhere, never a whole needle
        buffer = bytearray(b"1950Doe^1.3.JPEG" * (size // 16 + 1))[:size]
    for needle, position in ((b"19500112", 1), (b"Doe^Jan", SCAN_CHUNK_BYTES - 3),
                             ("Doe^Jane".encode("utf-16-le"), size - 16)):
        buffer[position : position + len(needle)] = needle  # odd, middle and last positions
    data = bytes(buffer)

    assert occurring(needles, data) == {n for n in needles if n in data}
    assert {b"19500112", b"Doe^Jan"} <= occurring(needles, data)
    assert occurring(needles, data[:1000]) == {n for n in needles if n in data[:1000]}


def test_the_vectorised_pixel_search_refuses_needles_shorter_than_four_bytes():
    with pytest.raises(ValueError):
        occurring({b"abc"}, bytes(VECTORISED_SCAN_BYTES))


def test_a_leak_in_large_encapsulated_pixels_is_caught():
    scanner = _scanner(b"Doe^Jane", b"1.2.3.4.5.6.7")
    pixels = bytes(VECTORISED_SCAN_BYTES) + "Doe^Jane".encode("utf-16-le") + bytes(101)
    assert scanner.find_leaks(b"header", pixels) == 1
    assert scanner.find_leaks(b"header", pixels.replace(b"D\x00", b"d\x00")) == 0
