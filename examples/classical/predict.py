"""Entrypoint of the classical example: hand-made features + logistic regression (numpy only).

Reads the model that `train.py` wrote at build time from `$ENCLAVE_MODEL_DIR/model.json`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
from cases import normalize, run
from features import features


class Model:
    def __init__(self, path: Path) -> None:
        fitted = json.loads(path.read_text())
        self.mean = np.asarray(fitted["feature_mean"])
        self.scale = np.asarray(fitted["feature_scale"])
        self.coefficients = np.asarray(fitted["coefficients"])
        self.intercept = float(fitted["intercept"])

    def score(self, pixels: np.ndarray) -> float:
        standardized = (features(normalize(pixels)) - self.mean) / self.scale
        logit = float(standardized @ self.coefficients) + self.intercept
        return 0.5 * (1.0 + math.tanh(logit / 2))  # the logistic function, without overflow


if __name__ == "__main__":
    model = Model(Path(os.environ.get("ENCLAVE_MODEL_DIR", "/opt/model")) / "model.json")
    run(model.score)
