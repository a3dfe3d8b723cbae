"""Segmentation, detection and multi-class classification through the platform: ground truth
import, staging, output collection, scoring and the leaderboard (the fake sandbox; tests/e2e runs
the example images on the real one).

Scores must equal what the metrics engine gives when called directly on the same arrays.
"""

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from challenges.errors import ImportRejected
from challenges.models import Challenge, GroundTruth, Phase, TaskType
from challenges.selectors import input_manifest
from challenges.services import cases_import, challenge_create, phase_create
from challenges.truths import lesions_import, load_mask, masks_import
from evaluation import services
from evaluation.metrics.engine import evaluate
from evaluation.metrics.formats import CaseData, predictions_from_json, truth_from_values
from evaluation.models import CaseResult, FailureReason, PhaseRanking, Result, Status
from evaluation.selectors import leaderboard_for
from evaluation.services.scoring import phase_reevaluate
from evaluation.services.specs import (
    SpecRejected,
    challenge_spec_update,
    default_spec,
    spec_of,
)
from evaluation.services.staging import stage_inputs
from sandbox.backends.fake import FakeBackend
from tests import factories
from tests.mask_files import nifti_bytes, npy_bytes, palette_png_bytes, png_bytes

pytestmark = pytest.mark.usefixtures("fake_sandbox")

SHAPE = (24, 32)
N_CASES = 6
SECRET = "PATIENT-4711"  # noqa: S105 (a marker that must never reach a failure detail)


def case_images(folder: Path, n: int = N_CASES, shape: tuple[int, int] = SHAPE) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    ids = []
    for i in range(n):
        case_id = f"case-{i:03d}"
        Image.fromarray(rng.integers(0, 200, size=shape, dtype=np.uint8)).save(
            folder / f"{case_id}.png")
        ids.append(case_id)
    return ids


def make_phase(world, tmp_path, task_type: str, labels: list[str], *, spec: dict | None = None,
               slug: str | None = None, is_hidden: bool = True,
               spacing: tuple[float, ...] = (1.0, 1.0)) -> Phase:
    challenge = challenge_create(society=world.society, slug=slug or task_type[:20],
                                 title=task_type, labels=labels, task_type=task_type,
                                 is_published=True)
    spec = spec or default_spec(task_type, labels)
    spec |= {"bootstrap": {"resamples": 200, "confidence": 0.95, "seed": 0},
             "spacing_mm": list(spacing)}
    Challenge.objects.filter(pk=challenge.pk).update(metric_spec=spec)
    challenge.refresh_from_db()
    factories.register_team(challenge, world.team)
    factories.register_team(challenge, world.other_team)
    phase = phase_create(challenge=challenge, slug="test", title="Test", is_hidden=is_hidden)
    cases_import(phase=phase, path=tmp_path / "cases")
    return phase


def truth_mask(index: int, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    if index % 3:  # every third case has nothing to find
        mask[2 + index: 10 + index, 4: 12 + 2 * index] = 1
    return mask


def predicted_mask(index: int) -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[3 + index: 11 + index, 5: 13 + index] = 1
    return mask


def write_masks(folder: Path, masks: dict[str, np.ndarray]) -> Path:
    """Each mask in another format: PNG, palette PNG, .npy, .nii, .nii.gz (big-endian), 16-bit."""
    folder.mkdir(parents=True, exist_ok=True)
    writers = [(".png", png_bytes), (".png", palette_png_bytes), (".npy", npy_bytes),
               (".nii", nifti_bytes),
               (".nii.gz", lambda m: nifti_bytes(m.astype(np.int16), big_endian=True,
                                                 compress=True)),
               (".png", lambda m: png_bytes(m.astype(np.uint16)))]
    for i, (case_id, mask) in enumerate(masks.items()):
        extension, write = writers[i % len(writers)]
        (folder / f"{case_id}{extension}").write_bytes(write(mask))
    return folder


def stored_files(media: Path, prefix: str) -> list[Path]:
    root = media / prefix
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def submit(world, phase, behaviour, *, image_id="sha256:" + "5e" * 32, team=None, user=None,
           django_capture_on_commit_callbacks):
    team, user = team or world.team, user or world.member
    FakeBackend.register(image_id, behaviour)
    image = factories.image_record(team, user, image_id)
    with django_capture_on_commit_callbacks(execute=True):
        submission = services.submission_create(user=user, team=team, phase=phase, image=image)
    submission.refresh_from_db()
    return submission


def case_ids_of(input_dir: Path) -> list[str]:
    return [c["id"] for c in json.loads((input_dir / "manifest.json").read_text())["cases"]]


# --- segmentation -------------------------------------------------------------------------------


@pytest.fixture
def segmentation(world, tmp_path):
    ids = case_images(tmp_path / "cases")
    phase = make_phase(world, tmp_path, TaskType.SEGMENTATION, ["background", "lesion"])
    truths = {case_id: truth_mask(i) for i, case_id in enumerate(ids)}
    masks_import(phase=phase, path=write_masks(tmp_path / "masks", truths))
    phase.refresh_from_db()
    return phase, truths


def test_masks_in_every_format_become_the_hidden_ground_truth(segmentation, isolated_storage,
                                                             tmp_path):
    phase, truths = segmentation

    values = dict(GroundTruth.objects.filter(case__phase=phase).values_list("case__case_id",
                                                                             "value"))
    assert set(values) == set(truths)
    for case_id, value in values.items():
        assert value["mask"]["kind"] == "npy.gz" and value["mask"]["shape"] == list(SHAPE)
        assert np.array_equal(load_mask(value["mask"]), truths[case_id])
    staged = tmp_path / "staged"
    staged.mkdir()
    stage_inputs(phase, staged)
    files = sorted(str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file())
    assert files == sorted(["manifest.json", *(f"{c}/image.png" for c in truths)])
    manifest = json.loads((staged / "manifest.json").read_text())
    assert "mask" not in json.dumps(manifest["cases"])  # the truth is never named to a run
    assert manifest["task"]["output"]["masks"].startswith("<case-id>.png")
    assert {tuple(c["shape"]) for c in manifest["cases"]} == {SHAPE}
    assert len(stored_files(isolated_storage, "truths")) == len(set(
        v["mask"]["sha256"] for v in values.values()))


def test_a_changed_mask_makes_a_new_truth_version(segmentation, tmp_path):
    phase, _truths = segmentation
    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / "case-000.png").write_bytes(png_bytes(np.ones(SHAPE, dtype=np.uint8)))

    report = masks_import(phase=phase, path=changed)

    assert report.truth_version == 2
    current = GroundTruth.objects.get(case__case_id="case-000", version=2)
    assert load_mask(current.value["mask"]).all()
    assert GroundTruth.objects.filter(version=2).count() == N_CASES


def bad_mask_folder(tmp_path: Path, kind: str) -> tuple[Path, str]:
    folder = tmp_path / f"bad-{kind}"
    folder.mkdir()
    good = np.zeros(SHAPE, dtype=np.uint8)
    (folder / "case-001.png").write_bytes(png_bytes(good))  # one good file: still all or nothing
    name, data, expected = "case-000.png", b"", ""
    if kind == "shape":
        data, expected = png_bytes(np.zeros((32, 24), np.uint8)), "differs from the case image (24 x 32)"
    elif kind == "labels":
        data, expected = png_bytes(np.full(SHAPE, 2, np.uint8)), "outside the label set (0 to 1)"
    elif kind == "nan":
        name, expected = "case-000.nii", "NaN or Infinity"
        data = nifti_bytes(np.full(SHAPE, np.nan, np.float32))
    elif kind == "fraction":
        name, data, expected = "case-000.npy", npy_bytes(np.full(SHAPE, 0.5)), "whole numbers"
    elif kind == "depth":
        name, expected = "case-000.nii.gz", "differs from the case image"
        data = nifti_bytes(np.zeros((3, *SHAPE), np.uint8), compress=True)
    elif kind == "bomb":
        name, expected = "case-000.nii.gz", "truncated or has trailing bytes"
        data = gzip.compress(nifti_bytes(np.zeros(SHAPE, np.uint8)) + bytes(64 * 1024 * 1024))
    elif kind == "truncated":
        name, expected = "case-000.nii", "truncated"
        data = nifti_bytes(np.zeros(SHAPE, np.uint8))[:-7]
    elif kind == "colour":
        data, expected = png_bytes(np.zeros((*SHAPE, 3), np.uint8)), "grayscale"
    elif kind == "pickle":
        name, expected = "case-000.npy", "not a valid .npy array"
        data = b"\x93NUMPY\x01\x00" + b"\x76\x00" + b"{'descr': __import__('os').system('x')}"
    elif kind == "unknown-case":
        name, data, expected = "nobody.png", png_bytes(good), "nobody is not a case"
    elif kind == "dicom-seg":
        name, data, expected = "case-000.dcm", b"DICM", "not a readable DICOM segmentation"
    elif kind == "not-a-mask":
        name, data, expected = "case-000.txt", b"x", "not a mask file"
    elif kind == "twice":
        (folder / "case-000.npy").write_bytes(npy_bytes(good))
        data, expected = png_bytes(good), "two mask files for one case"
    (folder / name).write_bytes(data)
    return folder, expected


@pytest.mark.parametrize("kind", ["shape", "labels", "nan", "fraction", "depth", "bomb",
                                  "truncated", "colour", "pickle", "unknown-case", "dicom-seg",
                                  "not-a-mask", "twice"])
def test_hostile_masks_are_refused_with_a_clear_error_and_nothing_is_stored(
        world, tmp_path, isolated_storage, kind):
    case_images(tmp_path / "cases")
    phase = make_phase(world, tmp_path, TaskType.SEGMENTATION, ["background", "lesion"])
    folder, expected = bad_mask_folder(tmp_path, kind)

    with pytest.raises(ImportRejected) as refused:
        masks_import(phase=phase, path=folder)

    assert expected in refused.value.message
    assert not GroundTruth.objects.filter(case__phase=phase).exists()
    assert stored_files(isolated_storage, "truths") == []


def write_predicted_masks(masks: dict[str, np.ndarray], extension: str = ".npy"):
    def behaviour(input_dir: Path, output_dir: Path) -> int:
        for case_id in case_ids_of(input_dir):
            data = {".npy": npy_bytes, ".png": png_bytes,
                    ".nii.gz": lambda m: nifti_bytes(m, compress=True)}[extension](masks[case_id])
            (output_dir / f"{case_id}{extension}").write_bytes(data)
        return 0
    return behaviour


def engine_segmentation(phase: Phase, truths: dict, predictions: dict):
    ids = tuple(sorted(truths))
    truth = CaseData(ids, [truths[c] for c in ids], spacing=tuple((1.0, 1.0) for _ in ids))
    return evaluate(spec_of(phase.challenge), truth, CaseData(ids, [predictions[c] for c in ids]))


@pytest.mark.parametrize("extension", [".npy", ".png", ".nii.gz"])
def test_a_segmentation_run_is_scored_as_the_engine_scores_its_masks(
        world, segmentation, extension, isolated_storage, django_capture_on_commit_callbacks):
    phase, truths = segmentation
    predictions = {case_id: predicted_mask(i) for i, case_id in enumerate(sorted(truths))}

    submission = submit(world, phase, write_predicted_masks(predictions, extension),
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert submission.status == Status.SUCCEEDED, submission.failure_detail
    expected = engine_segmentation(phase, truths, predictions)
    result = Result.objects.get(submission=submission, is_current=True)
    assert result.metrics == json.loads(json.dumps(expected.as_dict()))
    assert result.primary_value == expected.metrics["dice"].value
    assert result.primary_value is not None and result.primary_ci_low is not None
    assert result.primary_ci_high is not None
    assert result.primary_ci_low <= result.primary_value <= result.primary_ci_high
    for row in CaseResult.objects.filter(submission=submission).select_related("case"):
        assert row.values == pytest.approx(expected.per_case[row.case.case_id])
        assert np.array_equal(load_mask(row.prediction["mask"]), predictions[row.case.case_id])
    assert stored_files(isolated_storage, "predictions")
    board = leaderboard_for(world.outsider, phase)
    assert board.primary == "dice"
    assert [(e.team, e.value) for e in board.entries] == [("team-a", result.primary_value)]


def test_segmentation_teams_are_ranked_and_re_evaluated_from_stored_masks(
        world, segmentation, tmp_path, client, django_capture_on_commit_callbacks):
    phase, truths = segmentation
    ids = sorted(truths)
    good = submit(world, phase, write_predicted_masks({c: truths[c] for c in ids}),
                  django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    worse = submit(world, phase, write_predicted_masks(
        {c: predicted_mask(i) for i, c in enumerate(ids)}), team=world.other_team,
        user=world.outsider, image_id="sha256:" + "6f" * 32,
        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    board = leaderboard_for(world.outsider, phase)
    assert [(e.rank, e.team) for e in board.entries] == [(1, "team-a"), (2, "team-b")]
    assert board.entries[0].value == 1.0
    assert PhaseRanking.objects.filter(phase=phase).exists()
    page = client.get(f"/challenges/{phase.challenge.slug}/test/leaderboard/")
    assert page.status_code == 200
    assert "dice" in page.content.decode() and "hd95" in page.content.decode()

    flipped = tmp_path / "flipped"
    flipped.mkdir()
    (flipped / "case-001.png").write_bytes(png_bytes(1 - truths["case-001"]))
    masks_import(phase=phase, path=flipped)
    phase.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        assert phase_reevaluate(phase=phase) == 2
    truths["case-001"] = 1 - truths["case-001"]
    rescored = Result.objects.get(submission=good, is_current=True)
    assert rescored.truth_version == 2
    assert rescored.primary_value == engine_segmentation(
        phase, truths, {c: load_mask(GroundTruth.objects.get(case__case_id=c, version=1)
                                     .value["mask"]) for c in ids}).metrics["dice"].value
    assert Result.objects.get(submission=worse, is_current=True).truth_version == 2


def hostile_outputs(kind: str):
    def behaviour(input_dir: Path, output_dir: Path) -> int:
        ids = case_ids_of(input_dir)
        good = np.zeros(SHAPE, dtype=np.uint8)
        for case_id in ids[1:]:
            np.save(output_dir / f"{case_id}.npy", good)
        first = output_dir / ids[0]
        print(f"log line with {SECRET}")
        if kind == "symlink":
            os.symlink("/etc/passwd", f"{first}.png")
        elif kind == "shape":
            np.save(f"{first}.npy", np.zeros(SHAPE[::-1], np.uint8))
        elif kind == "labels":
            np.save(f"{first}.npy", np.full(SHAPE, 7, np.uint8))
        elif kind == "nan":
            np.save(f"{first}.npy", np.full(SHAPE, np.nan, np.float32))
        elif kind == "infinity":
            Path(f"{first}.nii").write_bytes(nifti_bytes(np.full(SHAPE, np.inf)))
        elif kind == "fraction":
            np.save(f"{first}.npy", np.full(SHAPE, 0.25, np.float64))
        elif kind == "huge-header":
            header = "{'descr': '|u1', 'fortran_order': False, 'shape': (1000000, 1000000), }"
            header += " " * (117 - len(header)) + "\n"
            Path(f"{first}.npy").write_bytes(b"\x93NUMPY\x01\x00" + bytes([118, 0]) +
                                             header.encode() + b"\x00" * 16)
        elif kind == "bomb":
            Path(f"{first}.nii.gz").write_bytes(gzip.compress(
                nifti_bytes(good) + bytes(64 * 1024 * 1024)))
        elif kind == "object":
            np.save(f"{first}.npy", np.array([[SECRET]], dtype=object), allow_pickle=True)
        elif kind == "two-files":
            np.save(f"{first}.npy", good)
            Path(f"{first}.png").write_bytes(png_bytes(good))
        elif kind == "missing-one":
            pass
        elif kind == "none":
            for case_id in ids[1:]:
                Path(output_dir / f"{case_id}.npy").unlink()
        elif kind == "four-d":
            Path(f"{first}.nii").write_bytes(nifti_bytes(np.zeros((2, 2, *SHAPE), np.uint8)))
        elif kind == "text":
            Path(f"{first}.png").write_bytes(SECRET.encode())
        return 0
    return behaviour


@pytest.mark.parametrize(("kind", "reason", "detail"), [
    ("symlink", "output_invalid", "symlink in /output"),
    ("shape", "output_invalid", "a mask's shape differs from its case image"),
    ("labels", "output_invalid", "a mask holds a label value outside the label set"),
    ("nan", "output_invalid", "NaN or Infinity in a mask"),
    ("infinity", "output_invalid", "NaN or Infinity in a mask"),
    ("fraction", "output_invalid", "mask values must be whole numbers"),
    ("huge-header", "output_invalid", "a mask's shape differs from its case image"),
    ("bomb", "output_invalid", "the mask's pixel data is truncated or has trailing bytes"),
    ("object", "output_invalid", ".npy masks must hold integer, boolean or float numbers"),
    ("two-files", "output_invalid", "two mask files for one case"),
    ("missing-one", "output_invalid", "masks missing for 1 of 6 cases"),
    ("none", "output_missing", "no mask files in /output"),
    ("four-d", "output_invalid", "a mask's shape differs from its case image"),
    ("text", "output_invalid", "not a valid PNG"),
])
def test_hostile_mask_outputs_fail_with_a_categorical_rule(
        world, segmentation, kind, reason, detail, isolated_storage,
        django_capture_on_commit_callbacks):
    phase, _truths = segmentation

    submission = submit(world, phase, hostile_outputs(kind),
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert (submission.status, submission.failure_reason, submission.failure_detail) == (
        Status.FAILED, reason, detail)
    assert SECRET not in submission.failure_detail and "case-" not in submission.failure_detail
    assert not CaseResult.objects.filter(submission=submission).exists()
    assert stored_files(isolated_storage, "predictions") == []


# --- detection ----------------------------------------------------------------------------------

TRUTH_POINTS = {  # x = column, y = row
    "case-000": [{"x": 5, "y": 4}], "case-001": [{"x": 20, "y": 10}, {"x": 3, "y": 20}],
    "case-002": [], "case-003": [{"x": 30, "y": 2, "radius_mm": 2.5}],
    "case-004": {"lesions": [{"point": [12, 16]}]}, "case-005": [],
}


@pytest.fixture
def detection(world, tmp_path):
    case_images(tmp_path / "cases")
    phase = make_phase(world, tmp_path, TaskType.DETECTION, ["lesion"])
    points = tmp_path / "points.json"
    points.write_text(json.dumps(TRUTH_POINTS))
    lesions_import(phase=phase, path=points)
    phase.refresh_from_db()
    return phase


def test_points_become_lesions_in_row_column_order(detection):
    values = dict(GroundTruth.objects.filter(case__phase=detection).values_list("case__case_id",
                                                                                 "value"))

    assert values["case-001"] == {"lesions": [{"point": [10.0, 20.0]}, {"point": [20.0, 3.0]}]}
    assert values["case-003"] == {"lesions": [{"point": [2.0, 30.0], "radius_mm": 2.5}]}
    assert values["case-004"] == {"lesions": [{"point": [12.0, 16.0]}]}
    assert values["case-002"] == {"lesions": []}


DETECTIONS = {
    "case-000": [{"point": [4, 6], "score": 0.9}, {"point": [15, 15], "score": 0.3}],
    "case-001": [{"point": [10, 21], "score": 0.8}],
    "case-002": [{"point": [1, 1], "score": 0.6}],
    "case-003": [{"point": [2, 31], "score": 0.7}],
    "case-004": [],
    "case-005": [{"point": [20, 20], "score": 0.2}],
}


def write_predictions(entries: dict):
    def behaviour(input_dir: Path, output_dir: Path) -> int:
        (output_dir / "predictions.json").write_text(json.dumps(entries))
        return 0
    return behaviour


def test_a_detection_run_is_scored_as_the_engine_scores_its_points(
        world, detection, django_capture_on_commit_callbacks):
    entries = {case_id: {"detections": d} for case_id, d in DETECTIONS.items()}

    submission = submit(world, detection, write_predictions(entries),
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert submission.status == Status.SUCCEEDED, submission.failure_detail
    spec = spec_of(detection.challenge)
    ids = tuple(sorted(entries))
    truth = truth_from_values(spec, dict(GroundTruth.objects.filter(
        case__phase=detection).values_list("case__case_id", "value")), ids)
    truth = CaseData(ids, truth.values, spacing=tuple((1.0, 1.0) for _ in ids))
    expected = evaluate(spec, truth, predictions_from_json(spec, entries, ids))
    result = Result.objects.get(submission=submission, is_current=True)
    assert result.metrics == json.loads(json.dumps(expected.as_dict()))
    assert result.metrics["primary"] == "froc"
    rows = {r.case.case_id: r.values for r in submission.case_results.select_related("case")}
    assert rows["case-001"] == {"lesions": 2, "detections": 1, "hits": 1}
    assert rows["case-004"] == {"lesions": 1, "detections": 0, "hits": 0}
    assert [e.team for e in leaderboard_for(world.outsider, detection).entries] == ["team-a"]


@pytest.mark.parametrize(("entries", "detail"), [
    ({"case-000": {"detections": [{"box": [0, 0, 4, 4], "score": 1}]}},
     "detections must be points for this challenge"),
    ({"case-000": {"detections": [{"point": [1, 2, 3], "score": 1}]}},
     "a detection's coordinates do not match its case image's dimensions"),
    ({"case-000": {"detections": [{"point": [1, 2]}]}},
     "each detection needs a point or box and a score"),
    ({"case-000": [{"x": 1, "y": 2, "score": 1}]}, "each case needs a \"detections\""),
])
def test_detections_that_break_the_challenges_rules_fail(world, detection, entries, detail,
                                                        django_capture_on_commit_callbacks):
    full = {case_id: {"detections": []} for case_id in TRUTH_POINTS} | entries

    submission = submit(world, detection, write_predictions(full),
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert (submission.failure_reason, submission.failure_detail) == (
        FailureReason.OUTPUT_INVALID, detail)


@pytest.mark.parametrize(("content", "expected"), [
    ('{"case-000": [{"x": NaN, "y": 1}]}', "NaN or Infinity"),
    ('[1, 2]', "a JSON object keyed by case id"),
    ('{"case-000": [{"x": 40, "y": 1}]}', "case-000: lesion 1: it lies outside the case image"),
    ('{"case-000": [{"x0": 1, "y0": 1, "x1": 3, "y1": 3}]}',
     "case-000: lesion 1: this challenge's lesions are points"),
    ('{"case-000": [{"x": 1, "y": 1, "z": 0}]}', "do not match the case image's 2 dimensions"),
    ('{"case-000": [{"x": 1, "Y": 1}]}', "a lesion needs x and y"),
    ('{"case-000": [{"x": 1, "y": 1, "radius_mm": -2}]}', "radius_mm must be a positive number"),
    ('{"case-000": [{"x": true, "y": 1}]}', "coordinates must be finite numbers"),
    ('{"nobody": []}', "nobody is not a case of this phase"),
    ('{"case-000": ' + "[" * 20 + "]" * 20 + "}", "nested too deeply"),
    ("{", "not valid JSON"),
])
def test_hostile_lesion_files_are_refused_and_nothing_is_stored(world, tmp_path, content,
                                                               expected):
    case_images(tmp_path / "cases")
    phase = make_phase(world, tmp_path, TaskType.DETECTION, ["lesion"])
    path = tmp_path / "points.json"
    path.write_text(content)

    with pytest.raises(ImportRejected) as refused:
        lesions_import(phase=phase, path=path)

    assert expected in refused.value.message
    assert not GroundTruth.objects.filter(case__phase=phase).exists()


def test_boxes_are_the_truth_when_the_spec_matches_by_iou(world, tmp_path,
                                                         django_capture_on_commit_callbacks):
    case_images(tmp_path / "cases")
    spec = default_spec(TaskType.DETECTION, ["lesion"])
    spec["metrics"] = [{"name": "ap_detection", "primary": True, "hit": "iou", "label": "ap"}]
    phase = make_phase(world, tmp_path, TaskType.DETECTION, ["lesion"], spec=spec)
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({f"case-{i:03d}": [{"x0": 2, "y0": 3, "x1": 9, "y1": 8}]
                                 for i in range(N_CASES)}))
    lesions_import(phase=phase, path=boxes)
    manifest = input_manifest(phase, list(phase.cases.all()))
    assert manifest["task"]["output"]["geometry"] == "box"
    entries = {f"case-{i:03d}": {"detections": [{"box": [3, 2, 8, 9], "score": 0.5}]}
               for i in range(N_CASES)}

    submission = submit(world, phase, write_predictions(entries),
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert submission.status == Status.SUCCEEDED, submission.failure_detail
    assert Result.objects.get(submission=submission).primary_value == 1.0
    with pytest.raises(SpecRejected, match="lesion points, but the ground truth holds boxes"):
        challenge_spec_update(challenge=phase.challenge, spec=default_spec(
            TaskType.DETECTION, ["lesion"]))


def test_a_detection_spec_needs_one_hit_criterion(world, tmp_path):
    case_images(tmp_path / "cases")
    phase = make_phase(world, tmp_path, TaskType.DETECTION, ["lesion"])
    spec = default_spec(TaskType.DETECTION, ["lesion"])
    spec["metrics"][1]["hit"] = "point_in_box"

    with pytest.raises(SpecRejected, match="same \"hit\" criterion"):
        challenge_spec_update(challenge=phase.challenge, spec=spec)


# --- multi-class classification -----------------------------------------------------------------

CLASSES = ["benign", "malignant", "other"]


@pytest.fixture
def multiclass(world, tmp_path):
    ids = case_images(tmp_path / "cases")
    labels = tmp_path / "labels.csv"
    labels.write_text("case_id,label\n" + "".join(
        f"{c},{CLASSES[i % 3]}\n" for i, c in enumerate(ids)))
    challenge = challenge_create(society=world.society, slug="multi", title="Multi",
                                 labels=CLASSES, task_type=TaskType.MULTICLASS_CLASSIFICATION,
                                 is_published=True)
    spec = default_spec(TaskType.MULTICLASS_CLASSIFICATION, CLASSES)
    spec["bootstrap"] = {"resamples": 200, "confidence": 0.95, "seed": 0}
    Challenge.objects.filter(pk=challenge.pk).update(metric_spec=spec)
    challenge.refresh_from_db()
    factories.register_team(challenge, world.team)
    phase = phase_create(challenge=challenge, slug="test", title="Test", is_hidden=True)
    cases_import(phase=phase, path=tmp_path / "cases", labels_path=labels)
    return phase


def probabilities(case_id: str) -> dict[str, float]:
    index = int(case_id[-3:])
    guess = CLASSES[index % 3] if index != 4 else "benign"
    return {label: 0.8 if label == guess else 0.1 for label in CLASSES}


def test_a_multiclass_run_is_scored_as_the_engine_scores_its_probabilities(
        world, multiclass, django_capture_on_commit_callbacks):
    entries = {f"case-{i:03d}": {"probabilities": probabilities(f"case-{i:03d}")}
               for i in range(N_CASES)}

    submission = submit(world, multiclass, write_predictions(entries),
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert submission.status == Status.SUCCEEDED, submission.failure_detail
    spec = spec_of(multiclass.challenge)
    ids = tuple(sorted(entries))
    truth = truth_from_values(spec, {c: CLASSES[int(c[-3:]) % 3] for c in ids}, ids)
    expected = evaluate(spec, truth, predictions_from_json(spec, entries, ids))
    result = Result.objects.get(submission=submission, is_current=True)
    assert result.metrics == json.loads(json.dumps(expected.as_dict()))
    assert result.metrics["primary"] == "balanced_accuracy"
    row = CaseResult.objects.get(submission=submission, case__case_id="case-004")
    assert row.values == {"label": "malignant", "predicted": "benign", "correct": False}
    manifest = input_manifest(multiclass, list(multiclass.cases.all()))
    assert manifest["task"]["labels"] == CLASSES and manifest["task"]["positive_label"] is None


def test_multiclass_probabilities_must_cover_every_label_and_sum_to_one(
        world, multiclass, django_capture_on_commit_callbacks):
    entries = {f"case-{i:03d}": {"probabilities": {"benign": 0.5, "malignant": 0.6,
                                                   "other": 0.0}} for i in range(N_CASES)}

    submission = submit(world, multiclass, write_predictions(entries),
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert (submission.failure_reason, submission.failure_detail) == (
        FailureReason.OUTPUT_INVALID, "\"probabilities\" of a case must sum to 1")


# --- challenges, labels and the import command ----------------------------------------------------


@pytest.mark.parametrize(("task_type", "labels", "expected"), [
    (TaskType.SEGMENTATION, ["lesion"], "background first"),
    (TaskType.MULTICLASS_CLASSIFICATION, ["only"], "at least two labels"),
    (TaskType.SEGMENTATION, ["background", "background"], "only once"),
    ("regression", ["x", "y"], "Unknown task type"),
])
def test_a_label_set_must_suit_the_task_type(world, task_type, labels, expected):
    with pytest.raises(ImportRejected, match=expected):
        challenge_create(society=world.society, slug="bad", title="Bad", labels=labels,
                         task_type=task_type)


def test_the_import_command_takes_masks_and_lesions_and_refuses_labels_for_them(world, tmp_path):
    ids = case_images(tmp_path / "cases")
    phase = make_phase(world, tmp_path, TaskType.SEGMENTATION, ["background", "lesion"])
    write_masks(tmp_path / "masks", {c: truth_mask(i) for i, c in enumerate(ids)})
    slug = phase.challenge.slug

    call_command("import_cases", "--challenge", slug, "--phase", "test", "--masks",
                 str(tmp_path / "masks"))
    labels = tmp_path / "labels.csv"
    labels.write_text("case_id,label\ncase-000,lesion\n")
    with pytest.raises(CommandError, match="--labels is for classification"):
        call_command("import_cases", "--challenge", slug, "--phase", "test", "--labels",
                     str(labels), str(tmp_path / "cases"))
    with pytest.raises(CommandError, match="--lesions is for detection"):
        call_command("import_cases", "--challenge", slug, "--phase", "test", "--lesions",
                     str(labels))

    assert GroundTruth.objects.filter(case__phase=phase).count() == N_CASES


def test_a_3d_segmentation_is_imported_staged_and_scored_in_frames_rows_columns(
        world, tmp_path, django_capture_on_commit_callbacks):
    from pydicom.data import get_testdata_file

    (tmp_path / "cases").mkdir()
    source = Path(str(get_testdata_file("emri_small.dcm", download=False)))  # 10 frames of 64x64
    (tmp_path / "cases" / "volume-001.dcm").write_bytes(source.read_bytes())
    phase = make_phase(world, tmp_path, TaskType.SEGMENTATION, ["background", "lesion"],
                       slug="volumes", spacing=(3.0, 1.0, 1.0))
    truth = np.zeros((10, 64, 64), dtype=np.uint8)
    truth[2:6, 10:30, 20:40] = 1
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "volume-001.nii.gz").write_bytes(nifti_bytes(truth, compress=True))
    report = masks_import(phase=phase, path=tmp_path / "masks")
    assert (report.cases, report.without_spacing) == (1, 0)
    predicted = np.zeros_like(truth)
    predicted[3:6, 12:30, 20:40] = 1
    seen: list[list[int]] = []

    def behaviour(input_dir: Path, output_dir: Path) -> int:
        case = json.loads((input_dir / "manifest.json").read_text())["cases"][0]
        seen.append(case["shape"])
        np.save(output_dir / f"{case['id']}.npy", predicted)
        return 0

    submission = submit(world, phase, behaviour,
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert seen == [[10, 64, 64]]
    assert submission.status == Status.SUCCEEDED, submission.failure_detail
    ids = ("volume-001",)
    expected = evaluate(spec_of(phase.challenge), CaseData(ids, [truth], ((3.0, 1.0, 1.0),)),
                        CaseData(ids, [predicted]))
    result = Result.objects.get(submission=submission, is_current=True)
    assert result.metrics == json.loads(json.dumps(expected.as_dict()))
    assert result.primary_value is not None and 0.5 < result.primary_value < 1.0
