"""Shift DICOM DA and DT values by a whole number of days (spec §1.3 step 5, option 113107).

One value at a time (the caller splits multi-valued elements on the backslash). Handles full dates,
partial dates (year "2019" or year-month "201903"; anchored on the middle of the period named, so
the shifted value keeps the same precision without a systematic bias), the legacy "YYYY.MM.DD" DA
form (written back as YYYYMMDD), ranges "A-B", "-B", "A-", and DT with time and "&ZZXX" offset
(the time-of-day and offset are kept: a whole-day shift does not change them). Anything else, or a
result outside years 1-9999, returns None: the caller empties the value and records it.
"""

import datetime as dt
import re
from collections.abc import Callable

_DA = re.compile(r"(\d{4})(\d{2})?(\d{2})?")
_DA_LEGACY = re.compile(r"(\d{4})\.(\d{2})\.(\d{2})")
_DT = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?)?([+-]\d{4})?")
_YEAR_MIDDLE = (7, 2)
_MONTH_MIDDLE = 15


def _shift_date_parts(year: str, month: str | None, day: str | None, days: int) -> str | None:
    try:
        if month is None:
            anchor = dt.date(int(year), *_YEAR_MIDDLE)
        elif day is None:
            anchor = dt.date(int(year), int(month), _MONTH_MIDDLE)
        else:
            anchor = dt.date(int(year), int(month), int(day))
        shifted = anchor + dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    text = f"{shifted.year:04d}"
    if month is not None:
        text += f"{shifted.month:02d}"
    if day is not None:
        text += f"{shifted.day:02d}"
    return text


def _shift_single_da(text: str, days: int) -> str | None:
    match = _DA.fullmatch(text) or _DA_LEGACY.fullmatch(text)
    if match is None:
        return None
    return _shift_date_parts(match.group(1), match.group(2), match.group(3), days)


def _shift_single_dt(text: str, days: int) -> str | None:
    match = _DT.fullmatch(text)
    if match is None:
        return None
    year, month, day, time, offset = match.groups()
    if time is not None and day is None:
        return None
    date_text = _shift_date_parts(year, month, day, days)
    if date_text is None:
        return None
    return date_text + (time or "") + (offset or "")


_Shift = Callable[[str, int], str | None]


def _shift_range(text: str, days: int, shift_single: _Shift) -> str | None:
    for index, char in enumerate(text):
        if char != "-":
            continue
        start, end = text[:index], text[index + 1 :]
        if not start and not end:
            return None
        new_start = shift_single(start, days) if start else ""
        new_end = shift_single(end, days) if end else ""
        if new_start is not None and new_end is not None:
            return f"{new_start}-{new_end}"
    return None


def shift_da(value: str, days: int) -> str | None:
    """Shift one DA value (or range); "" stays ""; None means unparsable."""
    text = value.strip()
    if not text:
        return ""
    shifted = _shift_single_da(text, days)
    return shifted if shifted is not None else _shift_range(text, days, _shift_single_da)


def shift_dt(value: str, days: int) -> str | None:
    """Shift one DT value (or range); "" stays ""; None means unparsable."""
    text = value.strip()
    if not text:
        return ""
    shifted = _shift_single_dt(text, days)
    return shifted if shifted is not None else _shift_range(text, days, _shift_single_dt)
