"""Supervised good/defect classifiers (the `classifier` and `small-cnn` kinds) whose map is the class activation
map of the defect class.

Both are a convolutional trunk, global average pooling (GAP) and one linear unit, the defect logit
z = b + mean_xy(sum_c w_c f_c(x, y)). For that head Grad-CAM equals CAM: the gradient of z with respect to the last
feature map is w_c / (h w) at every location, so Grad-CAM = ReLU(sum_c w_c f_c) / (h w). The map therefore
needs no gradients and exports to ONNX with TensorRT-friendly ops (a 1x1 conv, a mean, Resize, Sigmoid).

Eval forward(x) returns (anomaly_map [B,1,H,W], score [B]) like every kind:
* score = sigmoid(z), the defect probability in [0, 1];
* anomaly_map = sigmoid(upsample(b + cam)), cam = sum_c w_c f_c: per location, the defect probability the head
  would give a part that looked like that location everywhere, on the score's own scale. At feature resolution, where
  Grad-CAM is positive the map is sigmoid(b + h w Grad-CAM) exactly; where it is 0 the map keeps CAM's negative evidence
  (below sigmoid(b)) instead of Grad-CAM's ReLU floor: with a ReLU the floor sigmoid(b) of a trained small CNN
  lay above its pixel threshold (0.52 against 0.47, measured), so every pixel of every failing part was boxed.
  Bilinear upsampling by the trunk's integer stride keeps the mean, so max(map) >= sigmoid(mean) = score: a failing
  part always has a pixel over the image threshold, and the pixel threshold (model_threshold.calibrate: at most the
  image threshold) always boxes a region.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .networks import STAGE_CHANNELS, ResNet50Encoder

TRAINABLE = ("all", "layer4", "head")


class CamClassifier(nn.Module):
    """The shared head: GAP + Linear for training (`logits`), the equivalent 1x1-conv CAM at inference.

    A subclass sets `self.head` (nn.Linear(C, 1)) and implements `features(x)` -> [B, C, h, w]."""

    head: nn.Linear
    #: True when the trunk is a torchvision ResNet-50 (ImageNet weights or an autoencoder's encoder can seed it).
    resnet_trunk = False

    def __init__(self, input_size: tuple[int, int]) -> None:
        super().__init__()
        self.input_size = (int(input_size[0]), int(input_size[1]))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The defect logit [B] (training: GAP + Linear, the textbook head)."""
        return self.head(self.features(x).mean(dim=(2, 3))).squeeze(1)

    def cam_logits(self, x: torch.Tensor) -> torch.Tensor:
        """b + sum_c w_c f_c at feature resolution, [B,1,h,w]: the head applied at every location (a 1x1 conv, so
        no Gemm in the exported graph). Its spatial mean is the defect logit; ReLU(it - b) is h w Grad-CAM."""
        return F.conv2d(self.features(x), self.head.weight.view(1, -1, 1, 1), self.head.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.cam_logits(x)
        score = torch.sigmoid(z.mean(dim=(2, 3))).squeeze(1)
        up = F.interpolate(z, size=self.input_size, mode="bilinear", align_corners=False)
        return torch.sigmoid(up), score

    @property
    def arch(self) -> dict[str, Any]:
        """The metadata arch that rebuilds this network (its builder's keys, nothing unused)."""
        raise NotImplementedError


class ResNetClassifier(CamClassifier):
    """ResNet-50 (stem..layer{encoder_layers}) + GAP + Linear. trainable: all, or, for transfer learning from
    ImageNet weights, layer4 (the last stage used and the head) or head (the linear unit only); frozen stages keep
    their BatchNorm statistics (eval mode) while training."""

    resnet_trunk = True

    def __init__(self, input_size: tuple[int, int], encoder_layers: int = 4, trainable: str = "all") -> None:
        super().__init__(input_size)
        if trainable not in TRAINABLE:
            raise ValueError(f"trainable: expected one of {', '.join(TRAINABLE)}, got {trainable!r}")
        self.encoder = ResNet50Encoder(encoder_layers)
        self.head = nn.Linear(STAGE_CHANNELS[encoder_layers], 1)
        self.trainable = "all"
        self.set_trainable(trainable)

    def set_trainable(self, trainable: str) -> None:
        """Freeze all but the head (head), all but the last stage and the head (layer4), or nothing (all)."""
        if trainable not in TRAINABLE:
            raise ValueError(f"trainable: expected one of {', '.join(TRAINABLE)}, got {trainable!r}")
        self.trainable = trainable
        for p in self.encoder.parameters():
            p.requires_grad_(trainable == "all")
        if trainable == "layer4":
            for p in self.encoder.stages[-1].parameters():
                p.requires_grad_(True)

    def _frozen(self) -> list[nn.Module]:
        if self.trainable == "head":
            return [self.encoder]
        if self.trainable == "layer4":
            return [self.encoder.stem, *self.encoder.stages[:-1]]
        return []

    def train(self, mode: bool = True) -> ResNetClassifier:
        super().train(mode)
        for module in self._frozen():
            module.eval()  # frozen stages keep the statistics they were trained with
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)[-1]

    @property
    def arch(self) -> dict[str, Any]:
        return {"encoder_layers": self.encoder.layers, "trainable": self.trainable}


def _block(cin: int, cout: int) -> nn.Sequential:
    """conv 3x3 - BatchNorm - ReLU - max-pool 2."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.MaxPool2d(2))


class SmallCNN(CamClassifier):
    """Two conv blocks (conv-BN-ReLU-pool, stride 4 in all) + GAP + Linear, trained from scratch."""

    def __init__(self, input_size: tuple[int, int], channels: tuple[int, int] = (32, 64)) -> None:
        super().__init__(input_size)
        c1, c2 = (int(c) for c in channels)
        if min(c1, c2) < 1:
            raise ValueError(f"channels: expected two positive widths, got {channels!r}")
        self.encoder = nn.Sequential(_block(3, c1), _block(c1, c2))
        self.head = nn.Linear(c2, 1)
        self.channels = (c1, c2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.encoder(x)
        return out

    @property
    def arch(self) -> dict[str, Any]:
        return {"channels": list(self.channels)}


def build_resnet_classifier(input_size: tuple[int, int], arch: dict[str, Any]) -> nn.Module:
    """The classifier kind's network from its metadata arch (encoder_layers 4 unless it says otherwise)."""
    return ResNetClassifier(input_size, int(arch.get("encoder_layers", 4)), str(arch.get("trainable", "all")))


def build_small_cnn(input_size: tuple[int, int], arch: dict[str, Any]) -> nn.Module:
    """The small-cnn kind's network from its metadata arch: `channels` [c1, c2], or from the training flags' `width`
    (c1 = width / 4, c2 = width / 2: 32 and 64 at the default width 128)."""
    if "channels" in arch:
        channels = arch["channels"]
        if not (isinstance(channels, (list, tuple)) and len(channels) == 2):
            raise ValueError(f"channels: expected [c1, c2], got {channels!r}")
        return SmallCNN(input_size, (int(channels[0]), int(channels[1])))
    width = int(arch.get("width", 128))
    return SmallCNN(input_size, (max(1, width // 4), max(1, width // 2)))
