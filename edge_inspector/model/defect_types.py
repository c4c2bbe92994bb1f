"""The defect-type classifier (kind `defect-types`): which defect a part another model failed has (crack,
scratch, contamination...), with a confidence.

A small CNN: conv blocks with pooling, global average pooling, a 1x1 convolution to one logit per class, and
a softmax. Its eval forward(x normalised [B,3,H,W]) returns class probabilities [B, K] that sum to 1; the
training loop uses `logits`. The head is a 1x1 convolution and the softmax is written out (max, exp, sum,
divide) so the ONNX graph keeps to the ops TensorRT parses (export/onnx_checks.py). With arch backbone
"resnet50" the features come from the autoencoders' ResNet-50 encoder instead.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .defect_type_names import check_class_names
from .networks import STAGE_CHANNELS, ResNet50Encoder, conv_block

BACKBONES = ("small", "resnet50")
BLOCKS = 4  # conv blocks of the small backbone, each halving the resolution


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over dim 1, written out (ReduceMax, Exp, ReduceSum, Div: no Softmax op in the graph)."""
    z = torch.exp(logits - logits.amax(dim=1, keepdim=True))
    return z / z.sum(dim=1, keepdim=True)


class TypeClassifier(nn.Module):
    """Image -> one probability per defect type; `classes` is the number of types."""

    def __init__(self, classes: int, width: int = 32, backbone: str = "small", encoder_layers: int = 3) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"arch.backbone: expected one of {', '.join(BACKBONES)}, got {backbone!r}")
        if backbone == "resnet50":
            self.encoder: nn.Module = ResNet50Encoder(encoder_layers)
            channels = STAGE_CHANNELS[encoder_layers]
        else:
            chans = [3] + [width * 2 ** min(i, 2) for i in range(BLOCKS)]
            self.encoder = nn.Sequential(*[nn.Sequential(conv_block(chans[i], chans[i + 1]), nn.MaxPool2d(2))
                                           for i in range(BLOCKS)])
            channels = chans[-1]
        self.backbone = backbone
        self.head = nn.Conv2d(channels, classes, 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Unnormalised class scores [B, K]."""
        feat = self.encoder(x)
        if self.backbone == "resnet50":
            feat = feat[-1]
        pooled = feat.mean(dim=(2, 3), keepdim=True)
        return self.head(pooled).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return softmax(self.logits(x))


def build_type_classifier(input_size: tuple[int, int], arch: dict[str, Any]) -> TypeClassifier:
    """The network of metadata arch {"classes": [names], "width": int, "backbone": "small"|"resnet50",
    "encoder_layers": int}; ValueError naming the key for a bad arch."""
    classes = check_class_names(arch.get("classes"), "arch.classes")
    width = arch.get("width", 32)
    if not isinstance(width, int) or isinstance(width, bool) or not 4 <= width <= 512:
        raise ValueError(f"arch.width: expected an integer 4..512, got {width!r}")
    layers = arch.get("encoder_layers", 3)
    if layers not in STAGE_CHANNELS:
        raise ValueError(f"arch.encoder_layers: expected 1..4, got {layers!r}")
    return TypeClassifier(len(classes), width, str(arch.get("backbone", "small")), int(layers))
