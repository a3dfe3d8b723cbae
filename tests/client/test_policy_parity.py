"""The client runs images locally under the platform's rules: the same inputs must meet the same
policy on both sides. The client cannot import the server's modules (they need Django), so it
keeps its own copy; these tests run both on the same inputs and fail on any divergence.

Sides: docker run options, environment, limits, root-user rules and verdicts (sandbox.*),
/output collection and predictions.json reading (sandbox.collection, sandbox.outputs), the
contract of every task (evaluation.metrics.formats via evaluation.services.runs), segmentation
masks and detections checked against the challenge (imaging.masks via sandbox.outputs,
evaluation.services.outputs) and /input staging (evaluation.services.staging).
"""
# ruff: noqa: S105, S108 (paths inside the container; a passwd file is no password)

import dataclasses
import gzip
import itertools
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.utils import translation
from enclave_client import masks, policy, predictions, validate
from enclave_client import outputs as client_outputs
from enclave_client.api import Api

from challenges.apis import PhaseOutput
from challenges.selectors import phases_of
from evaluation.metrics.spec import Spec
from evaluation.services import runs
from evaluation.services.staging import stage_inputs
from sandbox import collection, outputs
from sandbox.backends import docker as server_docker
from sandbox.backends.base import RunOutcome, decide_verdict
from sandbox.backends.image_user import uid_of
from sandbox.errors import OutputInvalid, OutputMissing, SandboxError
from sandbox.intake import is_root_user
from sandbox.limits import RunLimits
from tests import factories
from tests.mask_files import (
    nifti_bytes,
    npy_bytes,
    palette_png_bytes,
    png_bytes,
    png_with_filters,
)


@pytest.fixture(autouse=True)
def english():
    """The server's rules are translated for people; the client speaks English."""
    with translation.override("en"):
        yield


def both_limits(**values: Any) -> tuple[RunLimits, policy.RunLimits]:
    return RunLimits(**values), policy.RunLimits(**values)


LIMITS = [{}, {"memory_mb": 512, "cpus": 1.5, "pids": 64, "tmp_mb": 32, "log_bytes": 5000},
          {"cpus": 0.25, "gpus": 2, "output_mb": 1}, {"cpus": 7.0, "gpus": 1, "memory_mb": 64000}]
VOLUMES = [[], ["/data", "/output", "/input", "/tmp/", "cache/", "/var/lib/x"]]


def test_the_limits_have_the_same_fields_and_defaults():
    server = [(f.name, f.default) for f in dataclasses.fields(RunLimits)]
    client = [(f.name, f.default) for f in dataclasses.fields(policy.RunLimits)]
    assert client == server
    assert policy.RunLimits(output_mb=3).output_bytes == RunLimits(output_mb=3).output_bytes


@pytest.mark.django_db
def test_a_phase_gives_the_same_limits_on_both_sides(world):
    factories.PhaseFactory(challenge=world.phase.challenge, slug="gpu", wall_seconds=77,
                           memory_mb=300, cpus=2.5, gpus=1, output_mb=9, pids=33,
                           output_files=44)
    for phase in phases_of(world.phase.challenge):
        described = PhaseOutput(phase).data  # what the client reads from the API
        assert dataclasses.asdict(policy.limits_of_phase(described)) == dataclasses.asdict(
            runs.phase_limits(phase))


@pytest.mark.parametrize(("values", "volumes", "devices"),
                         list(itertools.product(LIMITS, VOLUMES, [(), ("2", "3")])))
def test_docker_run_options_are_the_platforms(values, volumes, devices):
    server_limits, client_limits = both_limits(**values)
    where = {"input_dir": Path("/staged/in"), "output_dir": Path("/runs/x/output"),
             "image_volumes": volumes, "gpu_devices": devices}

    server = server_docker.host_config_options(limits=server_limits, **where)
    client = policy.host_config_options(limits=client_limits, **where)

    assert client == server
    assert policy.container_environment(client_limits) == server_docker.container_environment(
        server_limits)


@pytest.mark.parametrize(("volumes", "limits", "devices"), [
    (["/input/cases"], {}, ()), (["/output/x/"], {}, ()), ([], {"gpus": 3}, ("2", "3")),
])
def test_the_same_runs_are_refused_with_the_same_rule(volumes, limits, devices):
    server_limits, client_limits = both_limits(**limits)
    where = {"input_dir": Path("/in"), "output_dir": Path("/out"), "image_volumes": volumes,
             "gpu_devices": devices}

    with pytest.raises(SandboxError) as server:
        server_docker.host_config_options(limits=server_limits, **where)
    with pytest.raises(policy.ImageRefused) as client:
        policy.host_config_options(limits=client_limits, **where)

    assert str(client.value) == str(server.value)


def test_root_users_start_failures_and_verdicts_are_judged_alike():
    for user in ["", " ", "root", "root:root", "0", "0:1000", "-1", "00", "1000", "1000:0",
                 "nobody", " app ", "app:root"]:
        assert policy.is_root_user(user) == is_root_user(user), user
    passwd = "root:x:0:0::/root:/bin/sh\nalias:x:0:0::/:/bin/sh\napp:x:1000:1000::/:/bin/sh\nodd:x:y"
    for name in ["root", "alias", "app", "odd", "missing"]:
        assert policy.uid_of(name, passwd) == uid_of(name, passwd)
    assert validate._START_FAILURES == server_docker._START_FAILURES
    for timed_out, oom, code, error in itertools.product(
            [False, True], [False, True], [None, 0, 1, 137], [None, "symlink in /output"]):
        kwargs = {"timed_out": timed_out, "oom_killed": oom, "exit_code": code,
                  "output_error": error}
        assert policy.decide_verdict(**kwargs) == decide_verdict(**kwargs)


# --- /output collection ------------------------------------------------------------------------

def build_output(root: Path, kind: str) -> None:
    root.mkdir()
    (root / "predictions.json").write_text("{}")
    if kind == "nested":
        (root / "masks" / "a").mkdir(parents=True)
        (root / "masks" / "a" / "case.npy").write_bytes(b"\x93NUMPY" + bytes(100))
    elif kind == "symlink":
        (root / "link").symlink_to("/etc/passwd")
    elif kind == "dangling-symlink-deep":
        (root / "d").mkdir()
        (root / "d" / "x").symlink_to("nowhere")
    elif kind == "fifo":
        os.mkfifo(root / "pipe")
    elif kind == "many-files":
        for i in range(5):
            (root / f"f{i}").write_text("x")
    elif kind == "too-large":
        with (root / "big.bin").open("wb") as handle:
            handle.truncate(2 * 1024 * 1024)  # sparse: counted at its apparent size
    elif kind == "too-deep":
        deep = root
        for _ in range(34):
            deep = deep / "d"
        deep.mkdir(parents=True)


def listing(root: Path) -> list[tuple[str, bytes | None]]:
    return sorted((str(p.relative_to(root)), p.read_bytes() if p.is_file() else None)
                  for p in root.rglob("*"))


@pytest.mark.parametrize("kind", ["plain", "nested", "symlink", "dangling-symlink-deep", "fifo",
                                  "many-files", "too-large", "too-deep"])
def test_output_collection_keeps_and_refuses_the_same(tmp_path, kind):
    source = tmp_path / "output"
    build_output(source, kind)
    server_dest, client_dest = tmp_path / "server", tmp_path / "client"
    server_dest.mkdir()
    client_dest.mkdir()
    server_limits, client_limits = both_limits(output_files=4, output_mb=1)

    server = collection.collect_outputs(source, server_dest, server_limits)
    client = client_outputs.collect_outputs(source, client_dest, client_limits)

    assert client == server
    assert listing(client_dest) == listing(server_dest)
    assert (server is None) == (kind in ("plain", "nested"))


# --- predictions.json ----------------------------------------------------------------------

def server_read(path: Path, **caps: int) -> tuple[str, Any]:
    try:
        return "value", outputs.read_json_output(path, **caps)
    except OutputMissing as exc:
        return "missing", str(exc)
    except OutputInvalid as exc:
        return "invalid", exc.rule


def client_read(path: Path, **caps: int) -> tuple[str, Any]:
    try:
        return "value", client_outputs.read_json_output(path, **caps)
    except client_outputs.OutputMissing as exc:
        return "missing", exc.rule
    except client_outputs.OutputInvalid as exc:
        return "invalid", exc.rule


JSON_FILES: dict[str, bytes] = {
    "good": b'{"a": {"score": 0.5}}',
    "latin-1": '{"a": "é"}'.encode("latin-1"),
    "nan": b'{"a": NaN}', "infinity": b'{"a": -Infinity}', "overflow": b'{"a": 1e999}',
    "truncated": b'{"a": ', "empty": b"",
    "deep": b"[" * 33 + b"]" * 33, "just-deep-enough": b"[" * 32 + b"]" * 32,
    "very-deep": b"[" * 100_000 + b"]" * 100_000,
    "too-big": b'{"a": "' + b"x" * 2000 + b'"}',
}


@pytest.mark.parametrize("name", [*JSON_FILES, "symlink", "directory", "missing"])
def test_json_outputs_are_read_alike(tmp_path, name):
    path = tmp_path / "predictions.json"
    if name in JSON_FILES:
        path.write_bytes(JSON_FILES[name])
    elif name == "symlink":
        (tmp_path / "real.json").write_text("{}")
        path.symlink_to(tmp_path / "real.json")
    elif name == "directory":
        path.mkdir()
    caps = {"max_bytes": 1024, "max_depth": 32} if name == "too-big" else {}

    assert client_read(path, **caps) == server_read(path, **caps)


LABELS = {"binary-classification": ("absent", "present"),
          "multiclass-classification": ("a", "b", "c"),
          "multilabel-classification": ("x", "y"), "ordinal-grading": ("0", "1", "2", "3"),
          "regression": (), "detection": (), "segmentation": ()}
CASES = ["c1", "c2"]


def every_case(entry: Any) -> dict[str, Any]:
    return {case: entry for case in CASES}


PREDICTIONS: list[tuple[str, Any]] = [
    ("binary-classification", every_case({"score": 0.3})),
    ("binary-classification", every_case({"score": 1})),
    ("binary-classification", every_case({"score": 1.0000001})),
    ("binary-classification", every_case({"score": True})),
    ("binary-classification", every_case({"score": "0.5"})),
    ("binary-classification", every_case({"probability": 0.5})),
    ("binary-classification", every_case([0.5])),
    ("binary-classification", {"c1": {"score": 0.5}}),
    ("binary-classification", {"c1": {"score": 0.5}, "c2": {"score": 0.5}, "c3": {"score": 0}}),
    ("binary-classification", [{"score": 0.5}]),
    ("binary-classification", "not an object"),
    ("multiclass-classification", every_case({"probabilities": {"a": 0.2, "b": 0.3, "c": 0.5}})),
    ("multiclass-classification", every_case({"probabilities": {"a": 0.1, "b": 0.2, "c": 0.7}})),
    ("multiclass-classification", every_case({"probabilities": {"a": 0.2, "b": 0.3, "c": 0.6}})),
    ("multiclass-classification",
     every_case({"probabilities": {"a": 0.2, "b": 0.3, "c": 0.5 + 1.2e-5}})),
    ("multiclass-classification",
     every_case({"probabilities": {"a": 0.2, "b": 0.3, "c": 0.5 + 1e-5}})),
    ("multiclass-classification", every_case({"probabilities": {"a": 0.5, "b": 0.5}})),
    ("multiclass-classification", every_case({"probabilities": {"a": 1.5, "b": -0.5, "c": 0}})),
    ("multilabel-classification", every_case({"scores": {"x": 0.9, "y": 0.0}})),
    ("multilabel-classification", every_case({"scores": {"x": 0.9, "y": 0.0, "z": 1}})),
    ("multilabel-classification", every_case({"scores": {"x": 0.9, "y": None}})),
    ("ordinal-grading", every_case({"grade": 3})),
    ("ordinal-grading", every_case({"grade": 4})),
    ("ordinal-grading", every_case({"grade": 1.0})),
    ("ordinal-grading", every_case({"grade": False})),
    ("regression", every_case({"value": -12.5})),
    ("regression", every_case({"value": "12"})),
    ("detection", every_case({"detections": [{"point": [1, 2], "score": 0.5},
                                             {"box": [0, 0, 4, 4, 1, 1], "score": 2}]})),
    ("detection", every_case({"detections": []})),
    ("detection", every_case({"detections": [{"point": [1, 2]}]})),
    ("detection", every_case({"detections": [{"point": [1, 2, 3, 4], "score": 0.5}]})),
    ("detection", every_case({"detections": [{"point": [1], "box": [1, 2, 3, 4], "score": 1}]})),
    ("detection", every_case({"detections": [{"point": [1, 2], "score": "high"}]})),
    ("detection", every_case({"detections": [{"point": [1, 2], "score": 1, "radius_mm": -1}]})),
    ("detection", every_case({"detections": {"point": [1, 2]}})),
    ("segmentation", every_case({"mask": "c1.png"})),
]


def server_failure(task: str, output_dir: Path) -> tuple[str, str] | None:
    spec = Spec(task=task, labels=LABELS[task], positive_label=None, metrics=())
    judged = runs.read_predictions(spec, output_dir, CASES)  # what a worker does after a run
    return (str(judged.reason), judged.detail) if isinstance(judged, runs.Failure) else None


@pytest.mark.parametrize(("task", "data"), PREDICTIONS)
def test_predictions_are_judged_alike(tmp_path, task, data):
    (tmp_path / "predictions.json").write_text(json.dumps(data))

    client = predictions.predictions_failure(task, list(LABELS[task]), tmp_path, CASES)

    assert client == server_failure(task, tmp_path)


def test_a_missing_predictions_file_is_judged_alike(tmp_path):
    client = predictions.predictions_failure("binary-classification",
                                             list(LABELS["binary-classification"]), tmp_path, CASES)
    assert client == server_failure("binary-classification", tmp_path) == ("output_missing", "")


@pytest.mark.parametrize(("verdict", "exit_code", "output_error"), [
    ("completed", 0, None), ("exit_code", 3, None), ("output_invalid", 0, "symlink in /output"),
    ("timeout", None, None), ("out_of_memory", 137, None),
])
@pytest.mark.parametrize("judged", [None, ("output_invalid", "predictions.json: not valid JSON")])
def test_runs_fail_for_the_same_reason(verdict, exit_code, output_error, judged):
    outcome = RunOutcome(verdict=verdict, exit_code=exit_code, duration_s=1.0, logs="",
                         output_error=output_error)
    server = runs.failure_of(outcome, runs.Failure(*judged) if judged else {"c1": {}})

    client = predictions.run_failure(verdict, exit_code, output_error, judged)

    assert client == ((str(server.reason), server.detail) if server else None)


def test_an_integer_beyond_any_float_breaks_the_same_rule(tmp_path):
    (tmp_path / "predictions.json").write_text(json.dumps(every_case({"score": 10 ** 400})))

    client = predictions.predictions_failure("binary-classification",
                                             list(LABELS["binary-classification"]), tmp_path, CASES)

    assert client == server_failure("binary-classification", tmp_path)


# --- /input staging ----------------------------------------------------------------------------

def test_the_client_stages_the_inputs_a_worker_stages(live_server, world, tmp_path):
    phase = factories.PhaseFactory(challenge=world.phase.challenge, slug="sanity", is_hidden=False)
    factories.add_cases(phase, ["present", "absent", "present"], prefix="sample")
    server_dir, client_dir = tmp_path / "server", tmp_path / "client"
    server_dir.mkdir()
    client_dir.mkdir()
    api = Api(live_server.url, factories.api_token_for(world.member))

    server_ids = stage_inputs(phase, server_dir)
    client_ids = validate.stage_cases(api, "lesions", "sanity", client_dir)

    assert client_ids == server_ids
    assert listing(client_dir) == listing(server_dir)
    modes = {str(p.relative_to(client_dir)): p.stat().st_mode & 0o777 for p in client_dir.rglob("*")}
    assert modes == {str(p.relative_to(server_dir)): p.stat().st_mode & 0o777
                     for p in server_dir.rglob("*")}


# --- segmentation masks and detections ---------------------------------------------------------

MASK_SHAPE = (6, 9)


def _noise(dtype: Any = np.uint8, high: int = 2, shape: tuple[int, ...] = MASK_SHAPE) -> np.ndarray:
    return np.random.default_rng(3).integers(0, high, size=shape).astype(dtype)


def _crc_broken(data: bytes) -> bytes:
    return data[:-5] + bytes([data[-5] ^ 1]) + data[-4:]


def _bool_bytes_of_two() -> bytes:
    """A bool .npy whose True bytes are 2 (numpy reads any non-zero byte as True)."""
    data = npy_bytes(_noise(bool))
    size = int(np.prod(MASK_SHAPE))
    return data[:-size] + data[-size:].replace(b"\x01", b"\x02")


def _npy_header(header: str, body: bytes = b"") -> bytes:
    text = header + " " * (117 - len(header)) + "\n"
    return b"\x93NUMPY\x01\x00" + bytes([len(text), 0]) + text.encode() + body


MASK_FILES: dict[str, tuple[str, Any]] = {
    "png-8": (".png", lambda: png_bytes(_noise())),
    "png-16": (".png", lambda: png_bytes(_noise(np.uint16))),
    "png-16-label-300": (".png", lambda: png_bytes(np.full(MASK_SHAPE, 300, np.uint16))),
    "png-palette": (".png", lambda: palette_png_bytes(_noise())),
    "png-filtered": (".png", lambda: png_bytes(_noise(high=2, shape=MASK_SHAPE) * np.arange(9,
                                                                                     dtype=np.uint8) % 2)),
    "png-every-filter": (".png", lambda: png_with_filters(_noise(), [0, 1, 2, 3, 4])),
    "png-16-every-filter": (".png", lambda: png_with_filters(_noise(np.uint16), [4, 3, 2, 1, 0])),
    "png-16-filter-label": (".png", lambda: png_with_filters(
        _noise(np.uint16) * 256, [1, 2, 3, 4])),
    "png-bad-filter": (".png", lambda: png_with_filters(_noise(), [0, 5])),
    "png-rgb": (".png", lambda: png_bytes(np.zeros((*MASK_SHAPE, 3), np.uint8))),
    "png-shape": (".png", lambda: png_bytes(np.zeros(MASK_SHAPE[::-1], np.uint8))),
    "png-label": (".png", lambda: png_bytes(np.full(MASK_SHAPE, 2, np.uint8))),
    "png-crc": (".png", lambda: _crc_broken(png_bytes(_noise()))),
    "png-truncated": (".png", lambda: png_bytes(_noise())[:40]),
    "png-text": (".png", lambda: b"not a png at all"),
    "npy-u1": (".npy", lambda: npy_bytes(_noise())),
    "npy-i2-be": (".npy", lambda: npy_bytes(_noise(">i2"))),
    "npy-fortran": (".npy", lambda: npy_bytes(np.asfortranarray(_noise(np.int32)))),
    "npy-bool": (".npy", lambda: npy_bytes(_noise(bool))),
    "npy-bool-byte-2": (".npy", lambda: _bool_bytes_of_two()),
    "npy-nan": (".npy", lambda: npy_bytes(np.full(MASK_SHAPE, np.nan, np.float32))),
    "npy-half": (".npy", lambda: npy_bytes(np.full(MASK_SHAPE, 0.5))),
    "npy-negative": (".npy", lambda: npy_bytes(np.full(MASK_SHAPE, -1, np.int8))),
    "npy-whole-floats": (".npy", lambda: npy_bytes(_noise(np.float64))),
    "npy-object": (".npy", lambda: _npy_header("{'descr': '|O', 'fortran_order': False, "
                                               "'shape': (6, 9), }")),
    "npy-code": (".npy", lambda: _npy_header("{'descr': __import__('os').getcwd()}")),
    "npy-huge": (".npy", lambda: _npy_header("{'descr': '|u1', 'fortran_order': False, "
                                             "'shape': (100000, 100000), }", bytes(10))),
    "npy-truncated": (".npy", lambda: npy_bytes(_noise())[:-1]),
    "npy-trailing": (".npy", lambda: npy_bytes(_noise()) + b"\x00"),
    "nii": (".nii", lambda: nifti_bytes(_noise())),
    "nii-be-gz": (".nii.gz", lambda: nifti_bytes(_noise(np.int16), big_endian=True,
                                                 compress=True)),
    "nii-float-inf": (".nii", lambda: nifti_bytes(np.full(MASK_SHAPE, np.inf, np.float32))),
    "nii-scaled": (".nii", lambda: nifti_bytes(_noise(), slope=2.0, inter=0.0)),
    "nii-unscaled-ones": (".nii", lambda: nifti_bytes(_noise(), slope=1.0, inter=0.0)),
    "nii-pair": (".nii", lambda: nifti_bytes(_noise(), magic=b"ni1\x00")),
    "nii-3d": (".nii", lambda: nifti_bytes(_noise(shape=(2, *MASK_SHAPE)))),
    "nii-trailing-one": (".nii", lambda: nifti_bytes(_noise(), dims=(9, 6, 1))),
    "nii-trailing": (".nii", lambda: nifti_bytes(_noise(), extra=b"\x00")),
    "nii-gz-truncated": (".nii.gz", lambda: nifti_bytes(_noise(), compress=True)[:-12]),
    "nii-gz-junk": (".nii.gz", lambda: nifti_bytes(_noise(), compress=True) + b"junk"),
    "nii-bomb": (".nii.gz", lambda: gzip.compress(nifti_bytes(_noise()) + bytes(8 << 20))),
    "nii-not-gzip": (".nii.gz", lambda: nifti_bytes(_noise())),
    "tiff": (".tif", lambda: b"II*\x00"),
}


def server_mask(path: Path) -> str | None:
    try:
        outputs.read_mask_output(path, expected_shape=MASK_SHAPE, n_labels=2)
    except OutputInvalid as exc:  # OutputMissing included
        return exc.rule
    return None


def client_mask(path: Path) -> str | None:
    try:
        raw = client_outputs._read_regular_file(path, predictions.MAX_MASK_BYTES)
        masks.check_mask(raw, path.name, expected_shape=MASK_SHAPE, n_labels=2)
    except client_outputs.OutputInvalid as exc:
        return exc.rule if isinstance(exc, client_outputs.OutputMissing) else (
            f"mask file: {exc.rule}")
    except masks.MaskRejected as exc:
        return exc.rule
    return None


@pytest.mark.parametrize("name", [*MASK_FILES, "symlink", "directory"])
def test_mask_files_are_judged_alike(tmp_path, name):
    if name in MASK_FILES:
        extension, build = MASK_FILES[name]
        path = tmp_path / f"c1{extension}"
        path.write_bytes(build())
    elif name == "symlink":
        (tmp_path / "real.png").write_bytes(png_bytes(_noise()))
        path = tmp_path / "c1.png"
        path.symlink_to(tmp_path / "real.png")
    else:
        path = tmp_path / "c1.npy"
        path.mkdir()

    server = server_mask(path)

    assert client_mask(path) == server
    good = {"png-8", "png-16", "png-palette", "png-filtered", "png-every-filter",
            "png-16-every-filter", "npy-u1", "npy-i2-be",
            "npy-fortran", "npy-bool", "npy-bool-byte-2", "npy-whole-floats", "nii", "nii-be-gz",
            "nii-unscaled-ones", "nii-trailing-one"}
    assert (server is None) == (name in good), server


def _task_phase(world, task_type: str, labels: list[str], spec: dict | None = None):
    from challenges.models import Case, CaseFile
    from evaluation.services.specs import default_spec

    challenge = factories.ChallengeFactory(
        society=world.society, slug=task_type[:20], task_type=task_type, labels=labels,
        positive_label="", metric_spec=spec or default_spec(task_type, labels))
    phase = factories.PhaseFactory(challenge=challenge)
    for case_id in CASES:
        case = Case.objects.create(phase=phase, case_id=case_id, shape=list(MASK_SHAPE))
        CaseFile.objects.create(case=case, name="image.png", kind="png", sha256="0" * 64,
                                size_bytes=1, storage_key="unused")
    return phase


def _judged_alike(phase, output_dir: Path) -> tuple[str, str] | None:
    from challenges.selectors import cases_for_run, input_manifest
    from evaluation.services.outputs import read_outputs
    from evaluation.services.specs import spec_of

    cases = list(cases_for_run(phase))
    judged = read_outputs(phase, output_dir, cases)
    server = (str(judged.reason), judged.detail) if isinstance(judged, runs.Failure) else None
    manifest = json.loads(json.dumps(input_manifest(phase, cases)))
    client = predictions.outputs_failure(manifest, list(spec_of(phase.challenge).labels),
                                         output_dir)
    assert client == server
    return server


SEGMENTATION_OUTPUTS = {
    "good": {"c1.png": png_bytes(_noise()), "c2.nii.gz": nifti_bytes(_noise(), compress=True)},
    "none": {"predictions.json": b"{}"},
    "missing-one": {"c1.npy": npy_bytes(_noise())},
    "two-files": {"c1.npy": npy_bytes(_noise()), "c1.png": png_bytes(_noise()),
                  "c2.npy": npy_bytes(_noise())},
    "second-bad": {"c1.npy": npy_bytes(_noise()), "c2.npy": npy_bytes(_noise() + 1)},
    "first-bad": {"c1.png": b"junk", "c2.npy": b"junk"},
}


@pytest.mark.django_db
@pytest.mark.parametrize("layout", SEGMENTATION_OUTPUTS)
def test_segmentation_outputs_are_judged_alike(world, tmp_path, layout):
    phase = _task_phase(world, "segmentation", ["background", "lesion"])
    for name, data in SEGMENTATION_OUTPUTS[layout].items():
        (tmp_path / name).write_bytes(data)

    failure = _judged_alike(phase, tmp_path)

    assert (failure is None) == (layout == "good")


DETECTION_OUTPUTS = [
    ("point_in_radius", every_case({"detections": [{"point": [1, 2], "score": 0.5}]}), None),
    ("point_in_radius", every_case({"detections": [{"box": [1, 2, 3, 4], "score": 0.5}]}),
     "detections must be points for this challenge"),
    ("point_in_radius", every_case({"detections": [{"point": [1, 2, 3], "score": 0.5}]}),
     "a detection's coordinates do not match its case image's dimensions"),
    ("iou", every_case({"detections": [{"box": [1, 2, 3, 4], "score": 0.5}]}), None),
    ("iou", every_case({"detections": [{"point": [1, 2], "score": 0.5}]}),
     "detections must be boxes for this challenge"),
    ("iou", every_case({"detections": [{"box": [0, 1, 2, 3, 4, 5], "score": 0.5}]}),
     "a detection's coordinates do not match its case image's dimensions"),
    ("point_in_box", every_case({"detections": []}), None),
    ("point_in_box", every_case({"detections": [{"point": [1], "score": 0.5}]}),
     "each detection needs a point or box and a score"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("hit", "data", "rule"), DETECTION_OUTPUTS)
def test_detection_outputs_are_judged_alike(world, tmp_path, hit, data, rule):
    spec = {"task": "detection", "labels": ["lesion"],
            "metrics": [{"name": "ap_detection", "primary": True, "hit": hit}]}
    phase = _task_phase(world, "detection", ["lesion"], spec)
    (tmp_path / "predictions.json").write_text(json.dumps(data))

    failure = _judged_alike(phase, tmp_path)

    assert failure == (None if rule is None else ("output_invalid", rule))
