"""The keyed replacements (spec §1.3 steps 3-5) and the DA/DT shifter, value by value."""

import datetime as dt
import hashlib
import hmac
import uuid

import pytest

from imaging.dates import shift_da, shift_dt
from imaging.keyed import check_key, date_offset_days, pseudo_patient_id, remap_uid
from tests.imaging.conftest import KEY, OTHER_KEY

pytestmark: list[pytest.MarkDecorator] = []  # pure Python: no database


def test_remap_uid_matches_the_spec_algorithm():
    old = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
    digest = hmac.new(KEY, b"uid\0" + old.encode(), hashlib.sha256).digest()[:16]
    number = int.from_bytes(digest, "big")
    number = (number & ~(0xF << 76)) | (8 << 76)
    number = (number & ~(0x3 << 62)) | (0x2 << 62)
    assert remap_uid(KEY, old) == f"2.25.{number}"
    parsed = uuid.UUID(int=number)
    assert parsed.version == 8 and parsed.variant == uuid.RFC_4122
    assert len(remap_uid(KEY, old)) <= 44


def test_remap_uid_is_stable_per_key_and_unlinkable_across_keys():
    assert remap_uid(KEY, "1.2.3.4") == remap_uid(KEY, "1.2.3.4")
    assert remap_uid(KEY, "1.2.3.4") != remap_uid(KEY, "1.2.3.5")
    assert remap_uid(KEY, "1.2.3.4") != remap_uid(OTHER_KEY, "1.2.3.4")


def test_pseudonym_covers_issuer_and_id_without_ambiguity():
    assert pseudo_patient_id(KEY, "123", "A") != pseudo_patient_id(KEY, "123", "B")
    assert pseudo_patient_id(KEY, "23", "1") != pseudo_patient_id(KEY, "3", "12")
    assert pseudo_patient_id(KEY, "123") != pseudo_patient_id(OTHER_KEY, "123")
    assert len(pseudo_patient_id(KEY, "123")) == 13


def test_date_offsets_are_whole_weeks_between_one_and_ten_years():
    offsets = {date_offset_days(KEY, f"P{i}") for i in range(2000)}
    assert all(days % 7 == 0 and -7 * (52 + 468) <= days <= -7 * 52 for days in offsets)
    assert len(offsets) > 400  # spread over the 469 possible weeks
    assert date_offset_days(KEY, "P1") == date_offset_days(KEY, "P1")


def test_keys_must_be_long_bytes():
    check_key(KEY)
    for bad in (b"", b"x" * 15, "a string key of enough length"):
        with pytest.raises(ValueError):
            check_key(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "days", "expected"), [
    ("20040119", -7, "20040112"),
    ("20040301", -7, "20040223"),  # across a leap day
    ("2019", -364, "2018"),  # year only: anchored mid-year
    ("2019", -3640, "2009"),
    ("201903", -28, "201902"),
    ("2004.01.19", -7, "20040112"),  # legacy ACR-NEMA form, written back standard
    ("20040119-20040126", -7, "20040112-20040119"),
    ("-20040126", -7, "-20040119"),
    ("20040119-", -7, "20040112-"),
    ("", -7, ""),
    ("  20040119 ", -7, "20040112"),
])
def test_shift_da(value: str, days: int, expected: str):
    assert shift_da(value, days) == expected


@pytest.mark.parametrize("value", ["not a date", "20041332", "2004011", "19700101x", "-", "0001"])
def test_unparsable_or_out_of_range_da_is_none(value: str):
    assert shift_da(value, -3640) is None


@pytest.mark.parametrize(("value", "expected"), [
    ("20040119", "20040112"),
    ("20040119072730", "20040112072730"),
    ("20040119072730.123456", "20040112072730.123456"),
    ("20040119072730-0500", "20040112072730-0500"),  # an offset, not a range
    ("20040119072730+0100", "20040112072730+0100"),
    ("2004", "2004"),  # year only: mid-year minus a week
    ("20040119-20040126", "20040112-20040119"),  # a range
    ("20040119072730-20040126", "20040112072730-20040119"),
])
def test_shift_dt(value: str, expected: str):
    assert shift_dt(value, -7) == expected


@pytest.mark.parametrize("value", ["2004011907", "garbage", "20040119T0727"])
def test_shift_dt_keeps_hours_only_with_a_full_date(value: str):
    result = shift_dt(value, -7)
    assert result is None or result.startswith("20040112")


def test_shift_preserves_weekday_and_intervals():
    first, second = dt.date(2021, 3, 4), dt.date(2021, 5, 17)
    days = date_offset_days(KEY, "P-anyone")
    shifted = [dt.date.fromisoformat(_iso(shift_da(d.strftime("%Y%m%d"), days) or ""))
               for d in (first, second)]
    assert shifted[0].weekday() == first.weekday()
    assert shifted[1] - shifted[0] == second - first


def _iso(da: str) -> str:
    return f"{da[:4]}-{da[4:6]}-{da[6:8]}"
