"""A byte-level PHI scan written independently of `imaging.leakscan`: for every fixture, none of
the input's names, identifiers, descriptions or dates (PN, LO, SH, DA, DT at any depth, private
elements included) and none of its non-standard UIDs occur in the de-identified bytes, as ASCII
or as UTF-16-LE.

`test_leakscan.py` tests the built-in scanner, which gets its needles from the de-identifier
itself; this oracle reads the input with plain pydicom, so a value the walker never saw (or never
reported) is still searched. What may legitimately remain is decided here, not by the profile:
values of attributes that the profile's options retain on purpose (device identity 113109, coded
vocabularies, technique names), coded strings and numbers of standard attributes (CS, DS, IS...)
and standard UIDs; a needle found inside such a value is not a leak. Needles shorter than 4
bytes are not searched (a 3-byte value matches by chance); the Pixel Data value is searched only
for needles of 8 bytes or more (raw samples would match short needles by chance, encapsulated
JPEG segments can hold text).
"""

import re
import warnings
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.valuerep import PersonName

from imaging.deid import deidentify_file
from imaging.dicom_deid import deidentify_dicom
from imaging.errors import ImageFileRejected
from tests.imaging.conftest import KEY
from tests.imaging.oracle_fixtures import (
    DEID_DATA_ULTRASOUNDS,
    FIXTURES,
    deid_data_path,
    deidentified,
    dicomdir_images,
    fixture_file,
)

pytestmark: list[pytest.MarkDecorator] = []  # no database
MIN_HEADER_NEEDLE = 4
MIN_PIXEL_NEEDLE = 8
MIN_PRIVATE_RUN = 6
NEEDLE_VRS = frozenset({"PN", "LO", "SH", "DA", "DT", "UI"})
# Retained on purpose by the profile's options, not identifying a person: device identity
# (113109), technique and coded vocabulary. Anything else that survives is a leak.
RETAINED = frozenset({
    "Manufacturer", "ManufacturerModelName", "DeviceSerialNumber", "SoftwareVersions",
    "SecondaryCaptureDeviceManufacturer", "SecondaryCaptureDeviceManufacturerModelName",
    "SecondaryCaptureDeviceSoftwareVersions", "ConvolutionKernel", "FilterType", "RescaleType",
    "WindowCenterWidthExplanation", "PulseSequenceName", "CodeValue", "CodingSchemeDesignator",
    "CodingSchemeVersion", "CodeMeaning", "LongCodeValue", "ImagedNucleus",
    "PositionReferenceIndicator",  # an anatomical landmark ("Carotids" in dicomdirtests)
})
_PRINTABLE = re.compile(rb"[\x20-\x7e]{%d,}" % MIN_PRIVATE_RUN)


def _texts(elem: DataElement) -> list[str]:
    values = elem.value if elem.VM > 1 else [elem.value]
    texts = []
    for value in values:
        if isinstance(value, PersonName):
            whole = str(value)
            texts += [whole, *re.split(r"[\^=]", whole)]
        elif value is not None:
            texts.append(str(value))
    return [t.strip(" \x00") for t in texts]


def needles_and_retained(ds: Dataset) -> tuple[set[str], set[str]]:
    """(values that must not survive, values that may) from every element at every depth."""
    needles: set[str] = set()
    retained: set[str] = set()
    for elem in ds.iterall():
        keyword = elem.keyword or ""
        if elem.VR == "UN" or (elem.tag.is_private and elem.VR in ("OB", "UN", "UT", "LT")):
            raw = elem.value if isinstance(elem.value, bytes) else b""
            needles.update(run.decode("ascii").strip() for run in _PRINTABLE.findall(raw[:4096]))
            continue
        texts = _texts(elem) if elem.VR not in ("SQ", "OB", "OW", "OF", "OD", "OL", "OV") else []
        if elem.VR not in NEEDLE_VRS:  # coded strings and numbers (CS, DS, IS...) stay by design
            if not elem.tag.is_private:
                retained.update(texts)
            continue
        if elem.VR == "UI" and (keyword.endswith("ClassUID") or keyword == "TransferSyntaxUID"):
            continue
        if elem.VR == "UI":
            texts = [t for t in texts if not t.startswith("1.2.840.10008.")]
        if keyword in RETAINED and not elem.tag.is_private:
            retained.update(texts)
        else:
            needles.update(texts)
    legit = "\0".join(retained)  # a needle inside a retained value ("SIEMENS" in "SIEMENS AG")
    return {n for n in needles if len(n.encode()) >= MIN_HEADER_NEEDLE and n not in legit
            and not n.startswith("1.2.840.10008.")}, retained


def leaks(source: bytes, output: bytes) -> list[str]:
    """The input's needles that occur in the output bytes (ASCII/charset bytes or UTF-16-LE)."""
    with warnings.catch_warnings():  # the fixtures' own oddities (charsets, long values)
        warnings.simplefilter("ignore", UserWarning)
        original = pydicom.dcmread(BytesIO(source), force=True)
        needles, _ = needles_and_retained(original)
    written = pydicom.dcmread(BytesIO(output))  # elements stay raw: value_tell is known
    pixels = written.get_item(0x7FE00010)  # still a RawDataElement: it knows its offset
    header_end = getattr(pixels, "value_tell", None) or len(output)
    header = output[:header_end]
    found = []
    for needle in sorted(needles):
        variants = [needle.encode("utf-8"), needle.encode("latin-1", "replace"),
                    needle.encode("utf-16-le")]
        where = output if len(needle.encode()) >= MIN_PIXEL_NEEDLE else header
        if any(variant in where for variant in variants):
            found.append(needle)
    return found


@pytest.mark.parametrize("source", [pytest.param(s, id=i) for i, s in FIXTURES])
def test_no_original_value_survives_in_the_output_bytes(source):
    path = fixture_file(source)
    result = deidentified(path)
    assert leaks(path.read_bytes(), result.data) == []
    assert result.actions["leak_scan"]["hits"] == 0  # and the built-in scan agrees


def test_no_original_value_survives_in_the_dicomdir_images():
    for path in dicomdir_images():
        assert leaks(path.read_bytes(), deidentified(path).data) == [], path.name


def test_the_oracle_sees_the_private_phi_of_the_deid_data_ultrasound():
    """GREYSCALE_IMAGE.dcm hides a name in a private element: the oracle must have it as a
    needle (and find it when it is put back), or the scan above proves nothing for that file."""
    path = deid_data_path("ultrasounds/GREYSCALE_IMAGE.dcm")
    source = path.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        original = pydicom.dcmread(path)
        original.decode()
    private_names = {str(e.value).strip() for e in original.iterall()
                     if e.tag.is_private and e.VR == "PN" and len(str(e.value).strip("^ ")) >= 4}
    assert private_names, "the fixture no longer has a private PN"
    needles, _ = needles_and_retained(original)
    assert private_names <= needles
    name = sorted(private_names)[0]
    planted = deidentified(path).data + name.encode("utf-16-le")
    assert name in leaks(source, planted)


@pytest.mark.parametrize("name", DEID_DATA_ULTRASOUNDS)
def test_burned_in_risk_ultrasounds_are_held_and_their_header_is_clean(name):
    """Their pixels may carry text: the de-identifier must either hold them for a pixel review
    or refuse them; either way a header it writes leaks nothing."""
    path = deid_data_path(name)
    try:
        out = deidentify_dicom(path.read_bytes(), key=KEY, has_preamble=True)
    except ImageFileRejected as refused:
        assert refused.code == "burned_in_risk"
        return
    assert out.admission.pixel_review in {"burned_in_flag", "risk_modality"}
    assert leaks(path.read_bytes(), out.data) == []


def test_the_oracle_reports_a_leaked_uid_and_date(tmp_path: Path):
    """The scan can fail: an output that still holds the study UID and date is reported."""
    path = fixture_file(("pydicom", "CT_small.dcm"))
    original = pydicom.dcmread(path)
    written = pydicom.dcmread(BytesIO(deidentified(path).data))
    written.StudyDescription = f"{original.StudyInstanceUID} {original.StudyDate}"
    out = tmp_path / "leaky.dcm"
    written.save_as(out, enforce_file_format=True)
    found = leaks(path.read_bytes(), out.read_bytes())
    assert str(original.StudyInstanceUID) in found and str(original.StudyDate) in found


def _japanese_ct() -> bytes:
    """CT_small as a Japanese hospital sends it: ISO 2022 IR 6 \\ ISO 2022 IR 87, with the name
    in alphabetic, ideographic and phonetic groups."""
    ds = pydicom.dcmread(fixture_file(("pydicom", "CT_small.dcm")))
    ds.SpecificCharacterSet = ["ISO 2022 IR 6", "ISO 2022 IR 87"]
    ds.PatientName = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    ds.InstitutionName = "東京大学病院"
    ds.StudyDescription = "頭部ＣＴ"
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_japanese_names_do_not_survive():
    source = _japanese_ct()
    assert leaks(source, deidentify_file(source, key=KEY).data) == []


def test_a_multi_valued_character_set_is_understood():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deidentify_file(_japanese_ct(), key=KEY)
    assert not [w for w in caught if "Unknown encoding" in str(w.message)]
