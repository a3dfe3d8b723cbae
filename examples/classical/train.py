"""Train the classical example at image build time (seeded, so rebuilds give the same model).

Synthetic images (`synthetic.training_set`) -> hand-made `features` -> scikit-learn
StandardScaler + LogisticRegression. The fitted numbers are written as JSON to
`<model_dir>/model.json`, so inference needs numpy only: `predict.py` reads them back.
Usage: `python3 train.py MODEL_DIR`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from features import feature_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from synthetic import training_set

TRAINING_IMAGES = 3000
SEED = 20261126


def main(model_dir: Path) -> None:
    started = time.monotonic()
    images, labels = training_set(TRAINING_IMAGES, SEED)
    matrix = feature_matrix(images)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    pipeline.fit(matrix, labels)
    scaler, regression = pipeline[0], pipeline[-1]
    training_auroc = roc_auc_score(labels, pipeline.predict_proba(matrix)[:, 1])
    model = {
        "feature_mean": scaler.mean_.tolist(),
        "feature_scale": scaler.scale_.tolist(),
        "coefficients": regression.coef_[0].tolist(),
        "intercept": float(regression.intercept_[0]),
        "training_images": TRAINING_IMAGES,
        "seed": SEED,
        "training_auroc": round(float(training_auroc), 4),
    }
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model.json").write_text(json.dumps(model, indent=1) + "\n")
    elapsed = time.monotonic() - started
    print(f"trained on {TRAINING_IMAGES} synthetic images in {elapsed:.0f} s, AUROC {training_auroc:.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
