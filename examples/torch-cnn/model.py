"""A small fully convolutional CNN that finds bright round lesions on one normalized 2D slice.

Input (N, 1, H, W) float32 normalized as `cases.normalize` does (H, W multiples of 8, >= 32).
`forward` returns a lesion logit map (N, 1, H/8, W/8): one cell per 8x8 pixels (the input is
averaged down 2x first; lesions have radius >= 4 px). The image's score is the map's maximum
(`image_logits`): one strong local response suffices. Training supervises both the map (with the
synthetic lesion masks) and the maximum, which converges far faster than image labels alone.
"""

from __future__ import annotations

import torch
from torch import nn

STRIDE = 8


def _block(channels_in: int, channels_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(inplace=True),
    )


class LesionNet(nn.Module):
    def __init__(self, width: int = 12) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.AvgPool2d(2),
            _block(1, width),
            nn.MaxPool2d(2),
            _block(width, width * 2),
            _block(width * 2, width * 2),
            nn.MaxPool2d(2),
            _block(width * 2, width * 4),
            _block(width * 4, width * 4),
            _block(width * 4, width * 4),
        )
        self.head = nn.Conv2d(width * 4, 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def image_logits(logit_maps: torch.Tensor) -> torch.Tensor:
    """(N, 1, h, w) -> (N,): the most lesion-like cell of each image."""
    return logit_maps.amax(dim=(1, 2, 3))


def cell_targets(masks: torch.Tensor) -> torch.Tensor:
    """(N, H, W) boolean lesion masks -> (N, 1, H/8, W/8) float: 1 where a cell touches the lesion."""
    return nn.functional.max_pool2d(masks[:, None].float(), STRIDE)
