"""Train the CNN example at image build time on synthetic images (CPU, seeded, ~30 s on 2 cores).

The loss is the image-level BCE of the map's maximum plus a cell-level BCE against the synthetic
lesion masks (positives weighted up: a lesion covers few cells).

Usage: `python3 train.py MODEL_DIR`; writes `MODEL_DIR/lesionnet.pt` (a state dict) and
`MODEL_DIR/training.json` (what it was trained on). torch.optim needs sympy at import time, so the
training stage of the image has it and the runtime stage does not.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch
from model import LesionNet, cell_targets, image_logits
from synthetic import training_set_with_masks

TRAINING_IMAGES = 2400
EPOCHS = 5
BATCH = 32
PEAK_LEARNING_RATE = 4e-3
SEED = 20261126
CELL_POSITIVE_WEIGHT = 10.0


def main(model_dir: Path) -> None:
    started = time.monotonic()
    torch.manual_seed(SEED)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    images, labels, masks = training_set_with_masks(TRAINING_IMAGES, SEED)
    inputs = torch.from_numpy(images)[:, None]
    targets = torch.from_numpy(labels).float()
    cells = cell_targets(torch.from_numpy(masks))
    net = LesionNet()
    loss = train(net, inputs, targets, cells)
    model_dir.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), model_dir / "lesionnet.pt")
    record = {"training_images": TRAINING_IMAGES, "epochs": EPOCHS, "seed": SEED, "last_loss": loss}
    (model_dir / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"trained in {time.monotonic() - started:.0f} s, last epoch loss {loss:.3f}")


def train(net: LesionNet, inputs: torch.Tensor, targets: torch.Tensor, cells: torch.Tensor) -> float:
    optimizer = torch.optim.AdamW(net.parameters(), PEAK_LEARNING_RATE, weight_decay=1e-4)
    steps_per_epoch = (len(inputs) + BATCH - 1) // BATCH
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, PEAK_LEARNING_RATE, total_steps=EPOCHS * steps_per_epoch, pct_start=0.25
    )
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    cell_weight = torch.tensor(CELL_POSITIVE_WEIGHT)
    net.train()
    epoch_loss = float("nan")
    for epoch in range(EPOCHS):
        order = torch.randperm(len(inputs))
        total = 0.0
        for start in range(0, len(inputs), BATCH):
            batch = order[start : start + BATCH]
            optimizer.zero_grad()
            maps = net(inputs[batch])
            batch_loss = bce(image_logits(maps), targets[batch]) + bce(
                maps, cells[batch], pos_weight=cell_weight
            )
            batch_loss.backward()
            optimizer.step()
            schedule.step()
            total += batch_loss.item() * len(batch)
        epoch_loss = round(total / len(inputs), 4)
        print(f"epoch {epoch + 1}/{EPOCHS}: loss {epoch_loss}", flush=True)
    net.eval()
    return epoch_loss


if __name__ == "__main__":
    main(Path(sys.argv[1]))
