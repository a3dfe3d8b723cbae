"""Entrypoint of the CNN example: LesionNet on CPU, threads from OMP_NUM_THREADS.

Loads the weights that `train.py` wrote at build time from `$ENCLAVE_MODEL_DIR/lesionnet.pt`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from cases import normalize, run
from model import STRIDE, LesionNet, image_logits


def load_model(path: Path) -> LesionNet:
    net = LesionNet()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval()


def pad_to_stride(image: np.ndarray) -> np.ndarray:
    """Edge-pad a slice so both sides are multiples of the model's stride (128 already is)."""
    rows, cols = (-side % STRIDE for side in image.shape)
    return np.pad(image, ((0, rows), (0, cols)), mode="edge") if rows or cols else image


def main() -> None:
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    net = load_model(Path(os.environ.get("ENCLAVE_MODEL_DIR", "/opt/model")) / "lesionnet.pt")

    def score(pixels: np.ndarray) -> float:
        image = torch.from_numpy(pad_to_stride(normalize(pixels)))[None, None]
        with torch.inference_mode():
            return float(torch.sigmoid(image_logits(net(image)))[0])

    run(score)


if __name__ == "__main__":
    main()
