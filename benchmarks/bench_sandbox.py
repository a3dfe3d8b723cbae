"""Sandbox benchmark: platform overhead on a 100-case run vs plain `docker run` (DESIGN §7).

Row ``sandbox-overhead-100``: 100 small cases staged in an input directory; a small image (FROM
enclave/base:bookworm, a Python script that reads the manifest and writes predictions for every
case). ours = ``DockerBackend.run`` with the default limits (the whole sandbox: security options,
tmpfs /output, log capture, output collection, container removal); reference = the same image via
``docker run --rm -v in:/input:ro -v out:/output --network none IMAGE``. Runs are interleaved, one
warm-up each, then the median of 5. Target: ratio = ours / reference <= 1.2.

Run: ``.venv/bin/python benchmarks/bench_sandbox.py`` from the repository root (needs docker).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "enclave-bench/sandbox-overhead:latest"
N_CASES = 100
REPEATS = 5
TARGET_RATIO = 1.2

PREDICT = b"""\
import json, os
inp, out = os.environ.get("ENCLAVE_INPUT", "/input"), os.environ.get("ENCLAVE_OUTPUT", "/output")
manifest = json.load(open(os.path.join(inp, "manifest.json")))
predictions = {}
for case in manifest["cases"]:
    data = open(os.path.join(inp, case["files"][0]), "rb").read()
    predictions[case["id"]] = {"score": (sum(data[:64]) % 100) / 100}
json.dump(predictions, open(os.path.join(out, "predictions.json"), "w"))
"""
DOCKERFILE = b"""\
FROM enclave/base:bookworm
COPY predict.py /app/predict.py
USER 1000:1000
CMD ["python3", "/app/predict.py"]
"""


def build_image() -> None:
    import docker

    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as archive:
        for name, content in (("Dockerfile", DOCKERFILE), ("predict.py", PREDICT)):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    context.seek(0)
    client = docker.from_env()
    try:
        client.images.build(fileobj=context, custom_context=True, tag=IMAGE, rm=True)
    finally:
        client.close()


def stage_cases(input_dir: Path, n_cases: int = N_CASES) -> None:
    cases = []
    for number in range(n_cases):
        case_id = f"case-{number:04d}"
        (input_dir / case_id).mkdir()
        (input_dir / case_id / "image.png").write_bytes(os.urandom(4096))
        cases.append(
            {
                "id": case_id,
                "files": [f"{case_id}/image.png"],
                "modality": "XC",
                "pixel_spacing": None,
            }
        )
    manifest = {
        "contract": "enclave/v1",
        "task": {
            "type": "binary-classification",
            "labels": ["absent", "present"],
            "positive_label": "present",
        },
        "cases": cases,
    }
    (input_dir / "manifest.json").write_text(json.dumps(manifest))


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    path.chmod(0o1777)
    return path


def timed(action: Callable[[], None]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench_overhead(work: Path, n_cases: int = N_CASES) -> tuple[str, float, float]:
    from sandbox.backends.docker import DockerBackend
    from sandbox.limits import RunLimits

    input_dir = work / f"input-{n_cases}"
    input_dir.mkdir()
    stage_cases(input_dir, n_cases)
    backend = DockerBackend(work_root=work / "runs")
    limits = RunLimits()

    def ours() -> None:
        output = fresh_dir(work / "ours-out")
        outcome = backend.run(image_id=IMAGE, input_dir=input_dir, output_dir=output, limits=limits)
        assert outcome.verdict == "completed", outcome
        assert len(json.loads((output / "predictions.json").read_text())) == n_cases

    def reference() -> None:
        output = fresh_dir(work / "ref-out")
        subprocess.run(
            [
                "docker",
                "run",
                "--rm",
                "-v",
                f"{input_dir}:/input:ro",
                "-v",
                f"{output}:/output",
                "--network",
                "none",
                IMAGE,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        assert len(json.loads((output / "predictions.json").read_text())) == n_cases

    ours()
    reference()
    ours_times, reference_times = [], []
    for _ in range(REPEATS):
        ours_times.append(timed(ours))
        reference_times.append(timed(reference))
    return (
        f"sandbox-overhead-{n_cases}",
        statistics.median(ours_times),
        statistics.median(reference_times),
    )


def run() -> list[tuple[str, float, float]]:
    build_image()
    with tempfile.TemporaryDirectory(prefix="enclave-bench-sandbox-") as work:
        return [bench_overhead(Path(work), 100), bench_overhead(Path(work), 1000)]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    for name, ours_s, reference_s in run():
        print(
            f"{name}: ours={ours_s:.3f}s reference={reference_s:.3f}s "
            f"ratio={ours_s / reference_s:.3f} (target <= {TARGET_RATIO})"
        )
