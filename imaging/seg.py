"""DICOM-SEG masks: a segmentation object read with highdicom and turned into a label map.

`read_seg(data, expected_shape=..., labels=...)` returns an array of `expected_shape` (a case's
shape: (rows, columns), or (frames, rows, columns) for a multi-frame image) whose values are
label indices of the challenge's label set, or raises `SegRejected` (a `MaskRejected`, so
callers that handle mask rules handle these too). Only ground-truth import reads SEG files; team
outputs stay PNG/.npy/NIfTI (`imaging.masks`).

Segment to label: when every segment's SegmentLabel names a label of the set (case and spaces
ignored), that label; when none does, segment number n is label n (n < len(labels)); a mix is
refused (a typo must not silently become another label). FRACTIONAL segments are thresholded at
half their maximum (probability or occupancy >= 0.5); a LABELMAP SEG's segment 0 is background.
Segments that map to different labels must not overlap: a label map has one label per pixel.

Geometry: Rows and Columns must be the case's; the SEG must derive from exactly one source image
(the case is one file), and every source frame it references must exist in the case; the number
of frames is bounded before any pixel is decoded. Which source instance is referenced is not
compared with the case: an organiser's SEG usually references the original, identified image,
whose UID the case no longer carries. Nothing of the SEG's header is kept: the label map is all
that leaves this module (patient attributes in the file never reach storage).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from io import BytesIO

import numpy as np
from django.utils.translation import gettext as _
from pydicom import dcmread
from pydicom.dataset import Dataset

from imaging.masks import MaskRejected

SEG_EXTENSION = ".dcm"
MAX_SEGMENTS = 256
FRACTIONAL_THRESHOLD = 0.5


def seg_rules() -> dict[str, str]:
    """Every SEG rule by name (translated now); categorical, never a value from the file."""
    return {
        "seg": _("not a readable DICOM segmentation (SEG) object"),
        "seg_no_segments": _("the DICOM-SEG holds no segments"),
        "seg_too_many": _("the DICOM-SEG holds more segments than a label map can take"),
        "seg_sources": _("the DICOM-SEG must derive from exactly one image, the case's"),
        "seg_frames": _("the DICOM-SEG refers to frames the case image does not have"),
        "seg_labels": _("some DICOM-SEG segment labels are not in the challenge's label set; "
                        "name every segment after a label, or none (segment number = label)"),
        "seg_numbers": _("a DICOM-SEG segment number is beyond the challenge's label set"),
        "seg_overlap": _("DICOM-SEG segments overlap; a label map needs one label per pixel"),
    }


class SegRejected(MaskRejected):
    """A DICOM-SEG file that breaks a rule; `rule` is categorical and safe to show."""

    def __init__(self, name: str) -> None:  # its own rule table, not `masks.rules()`
        self.name = name
        self.rule = seg_rules()[name]
        ValueError.__init__(self, self.rule)


def seg_stem(name: str) -> str | None:
    """The case id a SEG file's name gives (`lp-001.dcm` -> `lp-001`), or None."""
    if name.lower().endswith(SEG_EXTENSION) and len(name) > len(SEG_EXTENSION):
        return name[: -len(SEG_EXTENSION)]
    return None


def read_seg(data: bytes, *, expected_shape: Sequence[int], labels: Sequence[str]) -> np.ndarray:
    """The SEG in `data` as a label map of `expected_shape` (see the module docstring)."""
    import highdicom as hd

    expected = tuple(int(n) for n in expected_shape)
    ds = _dataset(data, hd.seg.SOP_CLASS_UIDS)
    segments = _segment_labels(ds)
    if (int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)) != expected[-2:]:
        raise MaskRejected("shape")
    mapping = label_mapping(segments, labels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seg = hd.seg.Segmentation.from_dataset(ds, copy=False)  # pixels stay undecoded
            sources = {uids[2] for uids in seg.get_source_image_uids()}
    except Exception as exc:  # hostile structure deep in highdicom: refuse, never crash
        raise SegRejected("seg") from exc
    if len(sources) != 1:
        raise SegRejected("seg_sources")
    frames = expected[0] if len(expected) == 3 else 1
    if not 0 < int(ds.get("NumberOfFrames") or 0) <= frames * len(segments) or any(
            n > frames for n in _referenced_frames(ds)):
        raise SegRejected("seg_frames")
    return _label_map(seg, sources.pop(), mapping, expected)


def _dataset(data: bytes, sop_classes: set[str]) -> Dataset:
    try:
        ds = dcmread(BytesIO(data))
        if str(ds.get("SOPClassUID", "")) not in sop_classes:
            raise SegRejected("seg")
        _ = ds.get("SegmentSequence"), ds.get("PerFrameFunctionalGroupsSequence")
    except SegRejected:
        raise
    except Exception as exc:  # not DICOM, truncated, malformed sequences
        raise SegRejected("seg") from exc
    return ds


def _segment_labels(ds: Dataset) -> dict[int, str]:
    """{segment number: segment label} from the SegmentSequence."""
    items = ds.get("SegmentSequence") or []
    if not items:
        raise SegRejected("seg_no_segments")
    if len(items) > MAX_SEGMENTS:
        raise SegRejected("seg_too_many")
    labelmap = str(ds.get("SegmentationType", "")).upper() == "LABELMAP"
    segments: dict[int, str] = {}
    for item in items:
        try:
            number = int(item.SegmentNumber)
        except (AttributeError, TypeError, ValueError) as exc:
            raise SegRejected("seg") from exc
        if number < 0 or number in segments or (number == 0 and not labelmap):
            raise SegRejected("seg")
        segments[number] = str(item.get("SegmentLabel") or "")
    segments.pop(0, None)  # a LABELMAP's segment 0 is its background, whatever its name
    if not segments:
        raise SegRejected("seg_no_segments")
    return segments


def label_mapping(segments: dict[int, str], labels: Sequence[str]) -> dict[int, int]:
    """{segment number: label index}: by segment label when all match, else by number."""
    by_name = {str(label).strip().casefold(): index for index, label in enumerate(labels)}
    named = {n: by_name.get(text.strip().casefold()) for n, text in segments.items()}
    if all(index is not None for index in named.values()):
        return {n: int(index) for n, index in named.items() if index is not None}
    if any(index is not None for index in named.values()):
        raise SegRejected("seg_labels")
    if max(segments) >= len(labels):
        raise SegRejected("seg_numbers")
    return {n: n for n in segments}


def _referenced_frames(ds: Dataset) -> set[int]:
    """Source frame numbers the SEG's frames derive from (none for single-frame sources)."""
    frames: set[int] = set()
    try:
        for item in ds.get("PerFrameFunctionalGroupsSequence") or []:
            for derivation in item.get("DerivationImageSequence") or []:
                for source in derivation.get("SourceImageSequence") or []:
                    value = source.get("ReferencedFrameNumber")
                    values = value if isinstance(value, list | tuple) else [value]
                    frames.update(int(v) for v in values if v not in (None, ""))
    except (TypeError, ValueError) as exc:
        raise SegRejected("seg") from exc
    return frames


def _segment_pixels(seg, source: str, number: int, expected: tuple[int, ...]) -> np.ndarray:
    """One segment as a boolean array of `expected` shape."""
    options = {"segment_numbers": [number], "combine_segments": False,
               "rescale_fractional": True}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if len(expected) == 3:
                pixels = seg.get_pixels_by_source_frame(
                    source, source_frame_numbers=list(range(1, expected[0] + 1)), **options)
            else:
                pixels = seg.get_pixels_by_source_instance([source], **options)
    except Exception as exc:
        raise SegRejected("seg") from exc
    pixels = pixels[..., 0]
    pixels = pixels if len(expected) == 3 else pixels[0]
    if pixels.shape != expected:
        raise MaskRejected("shape")
    if pixels.dtype.kind == "f":
        return np.asarray(pixels >= FRACTIONAL_THRESHOLD)
    return np.asarray(pixels > 0)


def _label_map(seg, source: str, mapping: dict[int, int], expected: tuple[int, ...]) -> np.ndarray:
    dtype = np.uint8 if max(mapping.values(), default=0) < 256 else np.uint16
    label_map = np.zeros(expected, dtype=dtype)
    claimed = np.zeros(expected, dtype=bool)
    for number, label in sorted(mapping.items()):
        pixels = _segment_pixels(seg, source, number, expected)
        if (pixels & claimed & (label_map != label)).any():
            raise SegRejected("seg_overlap")
        label_map[pixels] = label
        claimed |= pixels
    return label_map
