"""`manage.py score`: organisers try a spec on local files with the platform's engine."""

import io
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from sklearn.metrics import mean_absolute_error, roc_auc_score


def run_score(tmp_path, spec, truth, predictions, fmt="json"):
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    out = io.StringIO()
    call_command("score", "--spec", str(spec_path), "--truth", str(truth),
                 "--predictions", str(predictions), "--format", fmt, stdout=out)
    return out.getvalue()


def test_binary_scores_match_scikit_learn(tmp_path):
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 60)
    scores = rng.random(60)
    truth = tmp_path / "truth.csv"
    truth.write_text("case_id,label\n" + "".join(
        f"c{i:03d},{'present' if y else 'absent'}\n" for i, y in enumerate(labels)))
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps({f"c{i:03d}": {"score": float(s)}
                                       for i, s in enumerate(scores)}))
    spec = {"task": "binary-classification", "labels": ["absent", "present"],
            "positive_label": "present", "metrics": [{"name": "auroc", "primary": True}],
            "bootstrap": {"resamples": 300, "seed": 1, "confidence": 0.95}}

    result = json.loads(run_score(tmp_path, spec, truth, predictions))

    auroc = result["metrics"]["auroc"]
    assert auroc["value"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert auroc["ci_low"] < auroc["value"] < auroc["ci_high"]


def test_regression_from_csv(tmp_path):
    truth = tmp_path / "truth.csv"
    truth.write_text("case_id,value\na,1.0\nb,2.5\nc,4.0\nd,3.0\n")
    predictions = tmp_path / "p.json"
    predictions.write_text(json.dumps({"a": {"value": 1.5}, "b": {"value": 2.0},
                                       "c": {"value": 4.0}, "d": {"value": 2.0}}))
    spec = {"task": "regression", "metrics": [{"name": "mae", "primary": True}],
            "bootstrap": {"resamples": 200, "seed": 0, "confidence": 0.95}}

    result = json.loads(run_score(tmp_path, spec, truth, predictions))

    assert result["metrics"]["mae"]["value"] == pytest.approx(
        mean_absolute_error([1.0, 2.5, 4.0, 3.0], [1.5, 2.0, 4.0, 2.0]))


def test_segmentation_masks_with_spacing_and_per_case_values(tmp_path):
    truth_dir, pred_dir = tmp_path / "truth", tmp_path / "pred"
    truth_dir.mkdir()
    pred_dir.mkdir()
    for i, shift in enumerate([0, 2, 4]):
        ref = np.zeros((32, 32), dtype=np.uint8)
        ref[8:20, 8:20] = 1
        pred = np.zeros_like(ref)
        pred[8:20, 8 + shift:20 + shift] = 1
        np.save(truth_dir / f"case-{i}.npy", ref)
        np.save(pred_dir / f"case-{i}.npy", pred)
    spec = {"task": "segmentation", "spacing_mm": [0.5, 0.5],
            "metrics": [{"name": "dice", "primary": True}, {"name": "hd95"},
                        {"name": "nsd", "tolerance_mm": 1}],
            "bootstrap": {"resamples": 200, "seed": 0, "confidence": 0.95}}

    output = json.loads(run_score(tmp_path, spec, truth_dir, pred_dir))
    table = run_score(tmp_path, spec, truth_dir, pred_dir, fmt="table")

    assert output["per_case"]["case-0"]["dice"] == 1.0
    assert output["per_case"]["case-1"]["dice"] == pytest.approx(2 * 120 / 288)
    assert output["per_case"]["case-2"]["hd95"] == pytest.approx(2.0)  # 4 voxels × 0.5 mm
    assert output["metrics"]["dice"]["statistic"] == "mean"
    assert "case-2" in table and "dice (primary)" in table


def test_detection_froc_from_json(tmp_path):
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps({"a": {"lesions": [{"point": [10, 10], "radius_mm": 3}]},
                                 "b": {"lesions": []}}))
    predictions = tmp_path / "p.json"
    predictions.write_text(json.dumps({
        "a": {"detections": [{"point": [11, 10], "score": 0.9}]},
        "b": {"detections": [{"point": [5, 5], "score": 0.4}]}}))
    spec = {"task": "detection", "spacing_mm": [1.0, 1.0],
            "metrics": [{"name": "froc_score", "primary": True, "hit": "point_in_radius",
                         "label": "froc_score"}],
            "bootstrap": {"resamples": 200, "seed": 0, "confidence": 0.95}}

    result = json.loads(run_score(tmp_path, spec, truth, predictions))

    assert result["metrics"]["froc_score"]["value"] == pytest.approx(1.0)


def test_a_bad_spec_lists_every_problem(tmp_path):
    spec = {"task": "binary-classification", "labels": ["a"], "metrics": [{"name": "nope"}]}
    with pytest.raises(CommandError) as error:
        run_score(tmp_path, spec, tmp_path / "t.csv", tmp_path / "p.json")
    message = str(error.value)
    assert "unknown metric 'nope'" in message and "two labels" in message
