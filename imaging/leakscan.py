"""Leak scan: the last gate before de-identified DICOM bytes leave `imaging` (spec §1.3 step 9).

The allow-list does the de-identification; this scan checks its result independently, on the
written bytes. While the walker removes or rewrites an element it hands the ORIGINAL value here as
"needles"; while it keeps an element by design (or generates a value) it hands that value here as
"legitimate text". After writing, every needle is searched in the output.

What makes the scan sound rather than noisy:
- Needles are original values of PN (whole value and each name component), LO, SH, AE, ST, LT,
  UT, DA, DT and UI, plus printable runs of >= 4 bytes from short (<= 1 KiB) values of unknown
  VR (implicit-VR private elements); large binary blobs (vendor headers) are not mined.
  Values shorter than 3 bytes are not searched: they are too short to tell a leak from chance
  (so initials such as "JD" are not covered; they are still removed by the allow-list).
- A needle that also occurs inside a kept-by-design or generated value is not a leak (for example a
  removed private "SIEMENS" while Manufacturer "SIEMENS" is kept); any other occurrence is.
  A value that survives by mistake (a private tag, a PN inside a kept sequence, a dirty preamble)
  is never "legitimate", so it is caught. PN and private values are never legitimate, even if a
  faulty table keeps them: names only leave as pseudonyms, and no private value is kept yet.
- Each needle is searched as bytes in the original encoding and as UTF-16-LE (ASCII needles).
- The header (everything but the Pixel Data value) is searched for all needles. Native pixel data
  are raw samples, where a 3-byte needle matches by chance (about 3% per needle per 512 KiB), so
  they are not searched; encapsulated (compressed) pixel data can carry text in codec segments
  (JPEG COM/APPn), so they are searched for needles of >= 8 bytes, where chance matches vanish.
  Text burned into the pixels themselves is not this scan's business (spec step 7).
  Large encapsulated pixel data are searched for all needles in one vectorised pass
  (`occurring`: the same answer as one search per needle, about three times faster at 512 KiB).
"""

import re
from collections.abc import Iterable

import numpy as np
from pydicom.charset import encode_string
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.valuerep import PersonName

MIN_NEEDLE_BYTES = 3
MIN_PIXEL_NEEDLE_BYTES = 8
MIN_RUN_BYTES = 4
MAX_UNKNOWN_VALUE_BYTES = 1024
VECTORISED_SCAN_BYTES = 128 * 1024
SCAN_CHUNK_BYTES = 1024 * 1024
MAX_CANDIDATES = 10_000
TEXT_VRS = frozenset({"PN", "LO", "SH", "AE", "ST", "LT", "UT", "DA", "DT", "UI"})
_PRINTABLE_RUN = re.compile(rb"[\x20-\x7e]{%d,}" % MIN_RUN_BYTES)
_STRIP = b" \x00"


def element_vr(elem: DataElement | RawDataElement) -> str:
    """The element's VR; a standard attribute stored as UN (or implicitly) gets its dictionary
    VR, so its value is still remapped or shifted; unknown private elements stay "UN"."""
    if elem.VR and elem.VR != "UN":
        return str(elem.VR)
    try:
        return str(dictionary_VR(elem.tag))
    except KeyError:
        return "UN"


def _value_bytes(value: object, encodings: list[str]) -> list[bytes]:
    if value is None or value == "":
        return []
    if isinstance(value, bytes):
        return [value]
    if isinstance(value, PersonName):
        return [value.original_string or encode_string(str(value), encodings)]
    if isinstance(value, str):
        return [encode_string(value, encodings)]
    if isinstance(value, Iterable):
        return [chunk for item in value for chunk in _value_bytes(item, encodings)]
    return []


class LeakScanner:
    """Collects needles and legitimate text for one file, then scans the written bytes."""

    def __init__(self) -> None:
        self.needles: set[bytes] = set()
        self._legit: list[bytes] = []

    def add_legit(self, value: object, encodings: list[str]) -> None:
        self._legit.extend(_value_bytes(value, encodings))

    def add_needle_text(self, text: bytes) -> None:
        for part in text.split(b"\\"):
            part = part.strip(_STRIP)
            if len(part) >= MIN_NEEDLE_BYTES:
                self.needles.add(part)

    def add_element(
        self, ds: Dataset, elem: DataElement | RawDataElement, encodings: list[str]
    ) -> None:
        """Register the original value of `elem` (of `ds`), which does not survive as it is."""
        vr = element_vr(elem)
        if vr == "SQ":
            for item in ds[elem.tag].value or ():
                self.add_dataset(item, encodings)
            return
        if vr == "UN":
            raw = elem.value if isinstance(elem.value, bytes) else b""
            if len(raw) <= MAX_UNKNOWN_VALUE_BYTES:
                for run in _PRINTABLE_RUN.findall(raw):
                    self.add_needle_text(run)
            return
        if vr not in TEXT_VRS:
            return
        for chunk in _value_bytes(elem.value, encodings):
            self.add_needle_text(chunk)
            if vr == "PN":
                for component in re.split(rb"[\^=\\]", chunk):
                    self.add_needle_text(component)

    def add_dataset(self, ds: Dataset, encodings: list[str]) -> None:
        """Every element of a dataset that is dropped whole (a removed sequence's items)."""
        for tag in list(ds.keys()):
            self.add_element(ds, ds.get_item(tag), encodings)

    def find_leaks(self, header: bytes, encapsulated_pixels: bytes = b"") -> int:
        """Number of needles found where only removed or rewritten values could have put them."""
        legit = b"\x00".join(self._legit)
        hits = 0
        unfound: list[list[bytes]] = []  # pixel-searchable variants of needles not in the header
        for needle in self.needles:
            if needle in legit:
                continue
            variants = [needle]
            if needle.isascii():
                variants.append(needle.decode("ascii").encode("utf-16-le"))
            if any(variant in header for variant in variants):
                hits += 1
            elif encapsulated_pixels:
                unfound.append([v for v in variants if len(v) >= MIN_PIXEL_NEEDLE_BYTES])
        if unfound:
            found = occurring({v for variants in unfound for v in variants}, encapsulated_pixels)
            hits += sum(1 for variants in unfound if found.intersection(variants))
        return hits


def occurring(needles: set[bytes], data: bytes) -> set[bytes]:
    """The needles (each of at least 4 bytes) that occur in `data`: exactly
    `{n for n in needles if n in data}`, in one vectorised pass instead of one per needle.

    Every occurrence of a needle starts where the data's next two bytes begin some needle (a
    65,536-entry table) and its next four bytes begin some needle (a sorted key array); only
    those positions are compared in full. The data are walked in chunks (bounded memory); data
    full of such prefixes fall back to one search per needle (bounded time)."""
    if not needles or len(data) < 4:
        return set()
    if min(len(n) for n in needles) < 4:
        raise ValueError("occurring() needs needles of at least 4 bytes")
    if len(data) < VECTORISED_SCAN_BYTES:  # below this, one search per needle is faster
        return {needle for needle in needles if needle in data}
    starts_pair = np.zeros(1 << 16, dtype=bool)
    starts_pair[[int.from_bytes(n[:2], "little") for n in needles]] = True
    by_quad: dict[bytes, list[bytes]] = {}
    for needle in needles:
        by_quad.setdefault(needle[:4], []).append(needle)
    keys = np.array(sorted(int.from_bytes(q, "little") for q in by_quad), dtype=np.uint32)
    view, candidates = memoryview(data), []
    for start in range(0, len(data) - 3, SCAN_CHUNK_BYTES):
        chunk = np.frombuffer(view[start : start + SCAN_CHUNK_BYTES + 3], dtype=np.uint8)
        candidates += (_quad_candidates(chunk, starts_pair, keys) + start).tolist()
        if len(candidates) > MAX_CANDIDATES:
            return {needle for needle in needles if needle in data}
    found: set[bytes] = set()
    for position in candidates:
        for needle in by_quad[data[position : position + 4]]:
            if needle not in found and data.startswith(needle, position):
                found.add(needle)
    return found


def _quad_candidates(chunk: np.ndarray, starts_pair: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Positions in `chunk` (the last three bytes only look ahead) whose two, then four, next
    bytes begin some needle."""
    positions = np.concatenate([  # the two-byte words at even, then at odd positions
        np.flatnonzero(starts_pair[np.frombuffer(chunk, "<u2", (chunk.size - o) // 2, o)]) * 2 + o
        for o in (0, 1)
    ])
    positions = positions[positions < chunk.size - 3]
    quads = chunk[positions].astype(np.uint32)
    for shift in (1, 2, 3):
        quads |= chunk[positions + shift].astype(np.uint32) << (8 * shift)
    return positions[np.isin(quads, keys)]
