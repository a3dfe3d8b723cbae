"""De-identification benchmark: the platform's DICOM de-identification vs a bare pydicom loop.

Row ``deid-ct-mr``: every CT and MR file shipped offline by pydicom (``pydicom/data/test_files``,
including its dicomdirtests/ tree) and by the pydicom-data package (found through pydicom's
external data sources; nothing is downloaded): 56 files, 9 MB with pydicom 3.0.2 + pydicom-data
1.0.0, from 16x16 dicomdir slices to 512² and 1024² slices and enhanced multi-frame CT/MR,
uncompressed (little and big endian, implicit and explicit VR), RLE, JPEG-LS and JPEG 2000.
Files the platform refuses (pydicom ships truncated ones and pixel-less dicomdir fixtures) are
left out of both loops and counted by refusal code. Row ``deid-ct-mr-large``: the same, only the
files of at least LARGE_BYTES (the 512²/1024² slices and the enhanced objects).
ours = ``imaging.deid.deidentify_file(data, key=...)``: admission, the allow-list walk, keyed UID,
patient and date rewriting, encoding, the leak scan and both SHA-256 hashes (input, for the
audit; output, the content address), i.e. everything an upload or a C-STORE does before storing;
the detail also gives the throughput without the two hashes (`imaging.dicom_deid.deidentify_dicom`).
reference = a bare ``dcmread(BytesIO(data))`` + ``save_as(BytesIO())`` of the same bytes. All read
from memory in one process; after one warm-up pass each, ROUNDS interleaved passes over all
files, and the median pass of each is reported. Target (DESIGN §7): ours' throughput >= 0.8x the
bare loop's, i.e. ratio = ours / reference <= 1.25.

Run: ``.venv/bin/python benchmarks/bench_deid.py`` (or ``benchmarks/run.py deid``).
"""

import logging
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

TARGET_THROUGHPUT_RATIO = 0.8
ROUNDS = 15
LARGE_BYTES = 256 * 1024  # 512² and larger slices, enhanced multi-frame objects
MODALITIES = ("CT", "MR")
KEY = b"enclave-benchmark-deid-key-00001"


def _candidates() -> list[Path]:
    """pydicom's own test files and pydicom-data's, without pydicom's download fallback."""
    from pydicom.data.data_manager import DATA_ROOT, DataTypes, external_data_sources

    paths = [p for p in (Path(DATA_ROOT) / "test_files").rglob("*") if p.is_file()]
    for source in external_data_sources().values():
        paths += [Path(p) for p in source.get_paths("**/*", DataTypes.DATASET)]
    return sorted({p for p in paths if p.suffix not in (".py", ".json", ".gz", ".bz2", ".zip")})


def ct_mr_files() -> tuple[list[tuple[str, bytes]], Counter[str]]:
    """(name, bytes) of every CT/MR file the platform accepts, and the refusals by code."""
    from pydicom import dcmread

    from imaging.deid import deidentify_file
    from imaging.errors import ImageFileRejected

    files, skipped = [], Counter[str]()
    for path in _candidates():
        try:
            header = dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: S112 (not DICOM: charsets, palettes, JPEGs...)
            continue
        if header.get("Modality") not in MODALITIES:
            continue
        data = path.read_bytes()
        try:
            deidentify_file(data, key=KEY)
        except ImageFileRejected as exc:
            skipped[exc.code] += 1
            continue
        files.append((path.name, data))
    return files, skipped


def bare_read_write(data: bytes) -> bytes:
    from pydicom import dcmread

    out = BytesIO()
    dcmread(BytesIO(data)).save_as(out)
    return out.getvalue()


def ours(data: bytes) -> bytes:
    from imaging.deid import deidentify_file

    return deidentify_file(data, key=KEY).data


def core(data: bytes) -> bytes:
    """De-identification proper: `ours` without detecting the kind and without the two hashes."""
    from imaging.deid import detect_kind
    from imaging.dicom_deid import deidentify_dicom

    return deidentify_dicom(data, key=KEY, has_preamble=detect_kind(data)[1]).data


def _pass(function: Callable[[bytes], bytes], files: list[tuple[str, bytes]]) -> float:
    start = time.perf_counter()
    for _, data in files:
        function(data)
    return time.perf_counter() - start


def bench_deid(name: str, files: list[tuple[str, bytes]], note: str) -> tuple[str, float, float, str]:
    _pass(ours, files), _pass(bare_read_write, files), _pass(core, files)
    ours_runs: list[float] = []
    bare_runs: list[float] = []
    core_runs: list[float] = []
    for round_ in range(ROUNDS):  # interleaved, rotating which goes first
        trio = [(ours, ours_runs), (bare_read_write, bare_runs), (core, core_runs)]
        for function, runs in trio[round_ % 3 :] + trio[: round_ % 3]:
            runs.append(_pass(function, files))
    ours_s, bare_s = statistics.median(ours_runs), statistics.median(bare_runs)
    core_s = statistics.median(core_runs)
    throughput = bare_s / ours_s
    megabytes = sum(len(data) for _, data in files) / 1e6
    verdict = "met" if throughput >= TARGET_THROUGHPUT_RATIO else "MISSED"
    detail = (f"throughput={throughput:.2f}x bare (target >= {TARGET_THROUGHPUT_RATIO}: {verdict}); "
              f"ours {len(files) / ours_s:.0f} files/s {megabytes / ours_s:.0f} MB/s, bare "
              f"{len(files) / bare_s:.0f} files/s; without the input and output SHA-256 "
              f"{bare_s / core_s:.2f}x bare; {len(files)} files {megabytes:.1f} MB{note}; "
              f"median of {ROUNDS} passes")
    return name, ours_s, bare_s, detail


def run() -> list[tuple[str, float, float, str]]:
    import pydicom.config  # noqa: F401 (its import sets the "pydicom" logger's level)

    pydicom_logger = logging.getLogger("pydicom")
    level = pydicom_logger.level
    pydicom_logger.setLevel(logging.ERROR)  # the test files' deliberate oddities, every pass
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            files, skipped = ct_mr_files()
            if not files:
                raise RuntimeError("no CT/MR test files found (pydicom, pydicom-data)")
            large = [(name, data) for name, data in files if len(data) >= LARGE_BYTES]
            return [
                bench_deid("deid-ct-mr", files, ", refused and left out: " + ", ".join(
                    f"{count} {code}" for code, count in sorted(skipped.items()))),
                bench_deid("deid-ct-mr-large", large, f" (the files >= {LARGE_BYTES // 1024} KiB)"),
            ]
    finally:
        pydicom_logger.setLevel(level)


if __name__ == "__main__":
    import os

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    for name, ours_s, reference_s, detail in run():
        print(f"{name}: ours={ours_s:.3f}s reference={reference_s:.3f}s "
              f"ratio={ours_s / reference_s:.3f}", detail)
