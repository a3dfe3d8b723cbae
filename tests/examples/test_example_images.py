"""The example images obey the container contract inside the platform's sandbox settings.

Each image is built by examples/build.sh (cached), run with the sandbox's flags on the staged
sanity cases (valid predictions for every case) and on the 200 test cases (AUROC, reported in
the terminal summary; classical and CNN must clear a sanity floor and beat the weak baseline).
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path

import pytest
from sklearn.metrics import roc_auc_score

from examples.phantom import PhantomSet
from tests.examples.staging import MEASURED_AUROC, REPO, stage_split

pytestmark = [pytest.mark.docker]

EXAMPLES = ("weak-baseline", "classical", "torch-cnn")
LEARNED = ("classical", "torch-cnn")
# Sanity floors, well under what the seeded builds measure (classical ~0.76, CNN ~0.88).
AUROC_FLOOR = {"classical": 0.70, "torch-cnn": 0.80}
BUILD_SCRIPT = REPO / "examples" / "build.sh"


def image_of(name: str) -> str:
    return f"enclave-example/{name}:latest"


@pytest.fixture(scope="session")
def built_examples() -> tuple[str, ...]:
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=1800, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return EXAMPLES


@pytest.fixture(scope="session")
def staged(phantom: PhantomSet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("staged")
    return {
        "sanity": stage_split(phantom.sanity_dir, root / "sanity"),
        "test": stage_split(phantom.test_dir, root / "test"),
    }


def inspect(image: str, template: str) -> str:
    return subprocess.run(
        ["docker", "image", "inspect", "-f", template, image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def run_sandboxed(image: str, input_dir: Path, output_dir: Path) -> subprocess.CompletedProcess:
    """`docker run` with the sandbox's flags (docs/container-contract.md, "The sandbox")."""
    output_dir.mkdir(parents=True, exist_ok=True)
    output_dir.chmod(0o777)
    command = [
        "docker", "run", "--rm",
        "--network", "none",
        "--read-only",
        "--user", inspect(image, "{{.Config.User}}"),
        "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges",
        "--pids-limit", "256",
        "--memory", "2g", "--memory-swap", "2g",
        "--cpus", "2",
        "--tmpfs", "/tmp:rw,size=64m",  # noqa: S108 - the container's own /tmp
        "-e", "ENCLAVE_INPUT=/input", "-e", "ENCLAVE_OUTPUT=/output",
        "-e", "HOME=/tmp", "-e", "OMP_NUM_THREADS=2",
        "-v", f"{input_dir}:/input:ro",
        "-v", f"{output_dir}:/output",
        image,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)


def read_predictions(output_dir: Path, input_dir: Path) -> dict[str, float]:
    """The scores, after checking predictions.json against the manifest per the contract."""
    manifest = json.loads((input_dir / "manifest.json").read_text())
    predictions = json.loads((output_dir / "predictions.json").read_text())
    assert set(predictions) == {case["id"] for case in manifest["cases"]}
    scores = {}
    for case_id, prediction in predictions.items():
        assert set(prediction) == {"score"}, case_id
        score = prediction["score"]
        assert isinstance(score, int | float) and not isinstance(score, bool), case_id
        assert math.isfinite(score) and 0.0 <= score <= 1.0, case_id
        scores[case_id] = float(score)
    return scores


def labels_of(labels_csv: Path) -> dict[str, int]:
    lines = labels_csv.read_text().splitlines()[1:]
    return {case: int(label == "present") for case, label in (line.split(",") for line in lines)}


@pytest.mark.parametrize("name", EXAMPLES)
def test_image_declares_a_non_root_user_and_an_entrypoint(built_examples, name: str) -> None:
    image = image_of(name)
    assert inspect(image, "{{.Config.User}}") not in {"", "root", "0", "0:0"}
    assert inspect(image, "{{json .Config.Entrypoint}}") not in {"null", "[]"}
    assert inspect(image, "{{.Architecture}}") == "amd64"
    assert inspect(image, '{{ index .Config.Labels "org.enclave.source-hash" }}')
    assert (REPO / "examples" / "build" / f"{name}.tar").stat().st_size > 0


@pytest.mark.parametrize("name", EXAMPLES)
def test_image_predicts_every_sanity_case_in_the_sandbox(
    built_examples, staged: dict[str, Path], tmp_path: Path, name: str
) -> None:
    result = run_sandboxed(image_of(name), staged["sanity"], tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    scores = read_predictions(tmp_path / "out", staged["sanity"])
    assert len(scores) == 10
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["predictions.json"]


@pytest.fixture(scope="session")
def test_aurocs(built_examples, staged: dict[str, Path], phantom: PhantomSet, tmp_path_factory) -> dict:
    """Each image run once on the 200 test cases: name -> AUROC (also shown in the summary)."""
    labels = labels_of(phantom.test_labels)
    for name in EXAMPLES:
        output_dir = tmp_path_factory.mktemp(f"{name}-test-out")
        started = time.monotonic()
        result = run_sandboxed(image_of(name), staged["test"], output_dir)
        assert result.returncode == 0, result.stderr[-3000:]
        scores = read_predictions(output_dir, staged["test"])
        MEASURED_AUROC[name] = roc_auc_score([labels[c] for c in scores], list(scores.values()))
        print(f"{name}: AUROC {MEASURED_AUROC[name]:.3f} in {time.monotonic() - started:.1f} s")
    return dict(MEASURED_AUROC)


@pytest.mark.parametrize("name", LEARNED)
def test_learned_example_clears_the_auroc_floor(test_aurocs: dict, name: str) -> None:
    assert test_aurocs[name] > AUROC_FLOOR[name]


@pytest.mark.parametrize("name", LEARNED)
def test_learned_example_beats_the_weak_baseline(test_aurocs: dict, name: str) -> None:
    assert test_aurocs[name] > test_aurocs["weak-baseline"] + 0.1


def test_second_build_is_a_cache_hit(built_examples) -> None:
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30
    for name in EXAMPLES:
        assert f"{name}: image up to date" in result.stdout
        assert f"{name}: tarball up to date" in result.stdout
