"""The network wrapped with its input conversion, so an exported graph scores raw pixels like the checkpoint.

Input: uint8 RGB [N, H, W, 3] at the model's input size, as `model.preprocess.to_input_images` makes it
(a quarter of the bytes of a float NCHW tensor to copy to a GPU). Inside: cast, /255, mean/std, NCHW,
the network, the anomaly map and its smoothing, the score. Outputs: anomaly_map [N, 1, H, W] and
score [N], float32.
"""

from __future__ import annotations

import torch
from torch import nn

from ..model.metadata import ModelMetadata

INPUT_NAME = "image"
OUTPUT_NAMES = ("anomaly_map", "score")


class ScoringGraph(nn.Module):
    """uint8 NHWC RGB -> (anomaly_map, score) with normalisation from the model's metadata."""

    def __init__(self, model: nn.Module, meta: ModelMetadata) -> None:
        super().__init__()
        self.model = model
        # mean/std folded with the 1/255 scale: x_norm = (x - 255*mean) / (255*std).
        self.register_buffer("offset", torch.tensor(meta.mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("scale", 1.0 / (torch.tensor(meta.std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0))
        self.offset: torch.Tensor
        self.scale: torch.Tensor

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = image.permute(0, 3, 1, 2).to(torch.float32)
        x = (x - self.offset) * self.scale
        amap, score = self.model(x)
        return amap.to(torch.float32), score.to(torch.float32)
