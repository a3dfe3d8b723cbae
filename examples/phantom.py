"""Demo data for the `lesion-phantom` challenge: a PHANTOM, not patient data.

The pixels are real CT and MR scanner pixels taken from the DICOM test files shipped inside the
`pydicom` and `pydicom-data` packages; the lesions are synthetic. Every case is a 128x128 slice cut
(and block-mean downsampled or upsampled) from one source frame; in positives one soft-edged round
"lesion" (radius 4-12 px, brightness 0.6-1.5x the standard deviation of the slice) is added at a
known place, on the most homogeneous of a few random tissue spots, so the ground truth is exact by
construction. (Brightness relative to the std of the lesion's own neighbourhood made lesions no
more conspicuous than the anatomy around them: a task nothing could learn.)

Contract of `build_phantom(out_dir, n_sanity=10, n_test=200, seed=...)`:

- writes `out_dir/<split>/<case-id>.dcm` for the splits `sanity` and `test`, case ids
  `lp-sanity-001`, ... and `lp-test-001`, ...;
- `out_dir/<split>-labels.csv` with header `case_id,label` and labels `present`/`absent`, exactly
  half each (the extra case of an odd count is `absent`);
- `out_dir/<split>-lesions.json`: `{case_id: {"center": [row, col], "radius_px": r}}` for positives;
- deterministic: the same seed and counts give byte-identical files.

Each file keeps the source's header (names, IDs, dates, UIDs, private tags) so that the platform's
de-identification has real work to do, with PatientName `PHANTOM^<source>`, PatientID `PH-<n>`, new
Study/Series/SOP Instance UIDs derived from the seed and the case id, and the pixel spacing scaled
to the resampling. Overlay planes (groups 60xx) are dropped: they no longer match the geometry.
Nothing in a file's header depends on its label.
"""

from __future__ import annotations

import copy
import csv
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from scipy import ndimage

SIZE = 128
SPLITS = ("sanity", "test")
PRESENT, ABSENT = "present", "absent"
RADIUS_RANGE = (4.0, 12.0)
CONTRAST_RANGE = (0.6, 1.5)
EDGE_HALF_WIDTH_PX = 1.5  # the edge ramps from 1 to 0 over radius +- this
CROP_CANDIDATES = 6
PLACEMENT_CANDIDATES = 8

# Uncompressed, single-channel CT and MR files shipped with pydicom / pydicom-data.
SOURCE_FILES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "693_UNCR.dcm",
    "MR2_UNCR.dcm",
    "emri_small.dcm",
    "eCT_Supplemental.dcm",
    "MR-SIEMENS-DICOM-WithOverlays.dcm",
    "examples_overlay.dcm",
)


@dataclass(frozen=True)
class PhantomSet:
    sanity_dir: Path
    test_dir: Path
    sanity_labels: Path
    test_labels: Path


@dataclass(frozen=True)
class Source:
    name: str
    header: Dataset  # the source dataset without pixel data or overlays
    frames: np.ndarray  # (frames, rows, columns), the stored values
    dtype: np.dtype
    bits_stored: int


@dataclass(frozen=True)
class Lesion:
    center: tuple[int, int]
    radius_px: float
    contrast: float  # multiple of the slice's standard deviation


@dataclass(frozen=True)
class CaseSpec:
    """Everything random about one case, drawn up front so that rendering is a pure function."""

    case_id: str
    number: int
    split: str
    source: str
    frame: int
    factor: int  # > 0: block-mean downsampling factor; -2: upsampling x2
    origin: tuple[int, int]  # top-left of the crop in the (resampled) frame
    rot90: int
    flip: bool
    lesion: Lesion | None


def build_phantom(
    out_dir: Path, *, n_sanity: int = 10, n_test: int = 200, seed: int = 20261126
) -> PhantomSet:
    """Write both splits of the phantom under `out_dir` and return where they are."""
    out_dir = Path(out_dir)
    sources = load_sources()
    for split, count in zip(SPLITS, (n_sanity, n_test), strict=True):
        specs = plan_split(split, count, seed=seed, sources=sources)
        write_split(out_dir, split, specs, sources, seed=seed)
    return PhantomSet(
        sanity_dir=out_dir / "sanity",
        test_dir=out_dir / "test",
        sanity_labels=out_dir / "sanity-labels.csv",
        test_labels=out_dir / "test-labels.csv",
    )


# --- sources -------------------------------------------------------------------------------


@cache
def load_sources() -> dict[str, Source]:
    """The source frames, read once per process; files missing locally are skipped."""
    sources = {}
    for name in SOURCE_FILES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            path = get_testdata_file(name, download=False)
        if path is None or not Path(str(path)).is_file():
            continue
        sources[name] = _read_source(name, Path(str(path)))
    if not sources:
        raise RuntimeError("no pydicom test files found: install pydicom and pydicom-data")
    return sources


def _read_source(name: str, path: Path) -> Source:
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array
    frames = pixels.reshape((-1, *pixels.shape[-2:]))
    header = copy.deepcopy(ds)
    del header.PixelData
    for elem in list(header):
        if 0x6000 <= elem.tag.group <= 0x60FF:
            del header[elem.tag]
    for keyword in ("SmallestImagePixelValue", "LargestImagePixelValue"):
        if keyword in header:
            delattr(header, keyword)
    return Source(name, header, frames, pixels.dtype, int(ds.BitsStored))


# --- planning --------------------------------------------------------------------------------


def plan_split(split: str, count: int, *, seed: int, sources: dict[str, Source]) -> list[CaseSpec]:
    """Draw every case of a split: labels exactly balanced, sources independent of labels."""
    split_index = SPLITS.index(split)
    n_present = count // 2
    order = np.random.default_rng([seed, split_index]).permutation(count)
    positive = set(order[:n_present].tolist())
    return [
        _plan_case(split, number, number - 1 in positive, seed=seed, sources=sources)
        for number in range(1, count + 1)
    ]


def _plan_case(split: str, number: int, present: bool, *, seed: int, sources: dict[str, Source]) -> CaseSpec:
    rng = np.random.default_rng([seed, SPLITS.index(split), number])
    names = sorted(sources)
    source = sources[names[rng.integers(len(names))]]
    frame = int(rng.integers(len(source.frames)))
    factor = _draw_factor(rng, source.frames.shape[1:])
    resampled = _resample(source.frames[frame], factor, origin=None)
    origin = _draw_origin(rng, resampled)
    crop = resampled[origin[0] : origin[0] + SIZE, origin[1] : origin[1] + SIZE]
    lesion = _draw_lesion(rng, crop) if present else None
    return CaseSpec(
        case_id=f"lp-{split}-{number:03d}",
        number=number,
        split=split,
        source=source.name,
        frame=frame,
        factor=factor,
        origin=origin,
        rot90=int(rng.integers(4)),
        flip=bool(rng.integers(2)),
        lesion=lesion,
    )


def _draw_factor(rng: np.random.Generator, shape: tuple[int, ...]) -> int:
    smallest = min(shape)
    if smallest < SIZE:
        return -2
    return int(rng.integers(1, smallest // SIZE + 1))


def _resample(frame: np.ndarray, factor: int, origin: tuple[int, int] | None) -> np.ndarray:
    """Block-mean downsample (or bilinear x2 upsample) a frame, as float64."""
    image = frame.astype(np.float64)
    if factor == -2:
        return ndimage.zoom(image, 2, order=1)
    if origin is not None:  # only the blocks that the crop needs
        top, left = origin[0] * factor, origin[1] * factor
        image = image[top : top + SIZE * factor, left : left + SIZE * factor]
    rows, cols = (dim // factor for dim in image.shape)
    blocks = image[: rows * factor, : cols * factor].reshape(rows, factor, cols, factor)
    return blocks.mean(axis=(1, 3))


def _draw_origin(rng: np.random.Generator, image: np.ndarray) -> tuple[int, int]:
    """The crop with the most tissue among a few random candidates."""
    threshold = _tissue_threshold(image)
    best, best_fraction = (0, 0), -1.0
    for _ in range(CROP_CANDIDATES):
        top = int(rng.integers(image.shape[0] - SIZE + 1))
        left = int(rng.integers(image.shape[1] - SIZE + 1))
        fraction = float((image[top : top + SIZE, left : left + SIZE] > threshold).mean())
        if fraction > best_fraction:
            best, best_fraction = (top, left), fraction
    return best


def _tissue_threshold(image: np.ndarray) -> float:
    low, high = np.percentile(image, [5, 95])
    return float(low + 0.5 * (high - low))


def _draw_lesion(rng: np.random.Generator, crop: np.ndarray) -> Lesion:
    """A lesion inside the slice, on the most homogeneous of a few random tissue spots."""
    radius = float(np.round(rng.uniform(*RADIUS_RANGE), 2))
    margin = int(np.ceil(radius)) + 2
    inner = crop[margin : SIZE - margin, margin : SIZE - margin]
    rows, cols = np.nonzero(inner > _tissue_threshold(crop))
    if rows.size == 0:
        rows, cols = np.nonzero(np.ones_like(inner, dtype=bool))
    picks = rng.integers(rows.size, size=PLACEMENT_CANDIDATES)
    spots = [(int(rows[pick]) + margin, int(cols[pick]) + margin) for pick in picks]
    center = min(spots, key=lambda spot: _spread_around(crop, spot, 1.5 * radius))
    contrast = float(np.round(rng.uniform(*CONTRAST_RANGE), 3))
    return Lesion(center=center, radius_px=radius, contrast=contrast)


def _spread_around(image: np.ndarray, center: tuple[int, int], half: float) -> float:
    row, col = center
    size = int(np.ceil(half))
    return float(image[max(row - size, 0) : row + size + 1, max(col - size, 0) : col + size + 1].std())


# --- rendering -------------------------------------------------------------------------------


def render_pixels(spec: CaseSpec, sources: dict[str, Source], *, with_lesion: bool = True) -> np.ndarray:
    """The stored pixel values of a case (the lesion left out when `with_lesion` is false)."""
    source = sources[spec.source]
    background = np.rint(_crop(spec, source))
    if with_lesion and spec.lesion is not None:
        background += np.rint(lesion_intensity(background, spec.lesion))
    oriented = _orient(background, spec)
    low, high = _stored_range(source)
    return np.clip(oriented, low, high).astype(source.dtype)


def _crop(spec: CaseSpec, source: Source) -> np.ndarray:
    frame = source.frames[spec.frame]
    if spec.factor == -2:
        image = _resample(frame, spec.factor, origin=None)
        top, left = spec.origin
        return image[top : top + SIZE, left : left + SIZE]
    return _resample(frame, spec.factor, origin=spec.origin)


def lesion_intensity(crop: np.ndarray, lesion: Lesion) -> np.ndarray:
    """A soft-edged disk whose height is `contrast` x the standard deviation of the slice.

    The edge is a smoothstep from 1 at radius - 1.5 px to exactly 0 at radius + 1.5 px.
    """
    row, col = lesion.center
    rows, cols = np.mgrid[: crop.shape[0], : crop.shape[1]]
    distance = np.hypot(rows - row, cols - col)
    ramp = np.clip((lesion.radius_px + EDGE_HALF_WIDTH_PX - distance) / (2 * EDGE_HALF_WIDTH_PX), 0, 1)
    profile = ramp * ramp * (3 - 2 * ramp)
    return lesion.contrast * max(float(crop.std()), 1.0) * profile


def _orient(image: np.ndarray, spec: CaseSpec) -> np.ndarray:
    image = np.rot90(image, spec.rot90)
    return image[:, ::-1] if spec.flip else image


def oriented_center(spec: CaseSpec) -> tuple[int, int]:
    """Where the lesion centre ends up after the case's rotation and flip."""
    assert spec.lesion is not None
    marker = np.zeros((SIZE, SIZE), dtype=bool)
    marker[spec.lesion.center] = True
    rows, cols = np.nonzero(_orient(marker, spec))
    return int(rows[0]), int(cols[0])


def _stored_range(source: Source) -> tuple[int, int]:
    if source.dtype.kind == "u":
        return 0, 2**source.bits_stored - 1
    return -(2 ** (source.bits_stored - 1)), 2 ** (source.bits_stored - 1) - 1


# --- writing ---------------------------------------------------------------------------------


def write_split(
    out_dir: Path, split: str, specs: list[CaseSpec], sources: dict[str, Source], *, seed: int
) -> None:
    case_dir = out_dir / split
    case_dir.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        dataset = case_dataset(spec, sources, seed=seed)
        dataset.save_as(case_dir / f"{spec.case_id}.dcm", enforce_file_format=True)
    with (out_dir / f"{split}-labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["case_id", "label"])
        writer.writerows([spec.case_id, label_of(spec)] for spec in specs)
    lesions = {
        spec.case_id: {"center": list(oriented_center(spec)), "radius_px": spec.lesion.radius_px}
        for spec in specs
        if spec.lesion is not None
    }
    (out_dir / f"{split}-lesions.json").write_text(json.dumps(lesions, indent=1) + "\n")


def label_of(spec: CaseSpec) -> str:
    return PRESENT if spec.lesion is not None else ABSENT


def case_dataset(spec: CaseSpec, sources: dict[str, Source], *, seed: int) -> Dataset:
    """The source header with the case's pixels, identity and UIDs."""
    source = sources[spec.source]
    dataset = copy.deepcopy(source.header)
    pixels = render_pixels(spec, sources)
    dataset.set_pixel_data(
        np.ascontiguousarray(pixels), "MONOCHROME2", source.bits_stored, generate_instance_uid=False
    )
    _keep_one_frame(dataset, source, spec.frame)
    _scale_spacing(dataset, 0.5 if spec.factor == -2 else spec.factor)
    sop_uid = generate_uid(entropy_srcs=[str(seed), spec.case_id])
    dataset.SOPInstanceUID = sop_uid
    dataset.file_meta.MediaStorageSOPInstanceUID = sop_uid
    dataset.StudyInstanceUID = generate_uid(entropy_srcs=[str(seed), spec.case_id, "study"])
    dataset.SeriesInstanceUID = generate_uid(entropy_srcs=[str(seed), spec.case_id, "series"])
    dataset.PatientName = f"PHANTOM^{Path(spec.source).stem}"
    dataset.PatientID = f"PH-{spec.split[0].upper()}{spec.number:04d}"
    return dataset


def _keep_one_frame(dataset: Dataset, source: Source, frame: int) -> None:
    if "NumberOfFrames" not in source.header:
        return
    dataset.NumberOfFrames = 1
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence")
    if per_frame is not None and len(per_frame) > frame:
        dataset.PerFrameFunctionalGroupsSequence = [per_frame[frame]]


def _scale_spacing(dataset: Dataset, scale: float) -> None:
    for holder in _spacing_holders(dataset):
        holder.PixelSpacing = [f"{float(value) * scale:.6g}" for value in holder.PixelSpacing]


def _spacing_holders(dataset: Dataset) -> Iterator[Dataset]:
    if "PixelSpacing" in dataset:
        yield dataset
    for keyword in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        for group in dataset.get(keyword, []):
            for measures in group.get("PixelMeasuresSequence", []):
                if "PixelSpacing" in measures:
                    yield measures


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--n-sanity", type=int, default=10)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args()
    built = build_phantom(args.out_dir, n_sanity=args.n_sanity, n_test=args.n_test, seed=args.seed)
    print(f"phantom written: {built.sanity_dir} and {built.test_dir}")
