"""What decides a training run (TrainConfig, recorded in the model's metadata) and what it returns (TrainResult)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..evaluation.policies import DEFAULT_TARGET
from ..model.metadata import ModelMetadata
from .kind_training import kind_training


@dataclass
class TrainConfig:
    """Everything that decides a training run (recorded in the model's metadata).

    input_size is the square side in pixels; width is the decoder width (the feature AE uses 2 x width);
    lr None picks the kind's default (training/kind_training.py). max_minutes stops after the epoch that exceeds it.
    roi (x, y, w, h) crops every frame before resizing, in training and at inference.
    """

    kind: str = "scratch"
    input_size: int = 256
    encoder_layers: int = 3
    width: int = 128
    epochs: int = 100
    batch_size: int = 8
    lr: float | None = None
    val_fraction: float = 0.15
    patience: int = 10
    seed: int = 0
    device: str = "auto"
    max_minutes: float | None = None
    frr_target: float = DEFAULT_TARGET  # the good-only rule's false-reject target (evaluation/policies.py)
    roi: tuple[int, int, int, int] | None = None
    hflip: bool = False  # off by default: flips are wrong for oriented parts
    vflip: bool = False
    max_rotation: float = 0.0  # degrees
    backbone_weights: Path | None = None
    random_backbone: bool = False  # feature AE only: frozen random encoder, for pipeline checks without weights
    # Train on tiles (model.tiling at inference): input_size is then the tile, cut with `tile_overlap` from each
    # good image resized (aspect kept) to `tile_working_size` (0: native resolution).
    tiles: bool = False
    tile_working_size: int = 0
    tile_overlap: int = 32
    tile_crops: str = "random"  # random: fresh tile-sized crops each step; grid: the inference grid's tiles
    # The part mask (model/part_mask.py): an ignore-mask PNG at frame size, or found in the good images
    # (model/part_geometry.py) with `mask_margin` pixels of the part's edge ignored too.
    part_mask: Path | None = None
    auto_mask: bool = False
    mask_margin: int = 0
    # auto: bf16 autocast on CUDA (fp16 without bf16) and on CPUs with bf16 units; fp32 or bf16 to force.
    precision: str = "auto"
    split: Path | None = None  # supervised kinds: the development split file whose defective images they train on
    init_encoder: Path | None = None  # supervised kinds: a trained autoencoder's model dir whose encoder.* seeds theirs

    def __post_init__(self) -> None:
        kind_training(self.kind)  # ValueError naming the known kinds
        if not 1 <= self.encoder_layers <= 4:
            raise ValueError(f"encoder_layers: expected 1..4, got {self.encoder_layers}")
        if self.tile_crops not in ("random", "grid"):
            raise ValueError(f"tile_crops: expected random or grid, got {self.tile_crops!r}")
        if self.input_size < 32 or self.input_size % 32:
            raise ValueError(f"input_size: expected a multiple of 32 >= 32, got {self.input_size}")
        if not 0 < self.frr_target < 0.5:
            raise ValueError(f"frr_target: expected 0 < frr_target < 0.5, got {self.frr_target}")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else kind_training(self.kind).lr


@dataclass(frozen=True)
class TrainResult:
    model_dir: Path
    metadata: ModelMetadata
    epochs_run: int
    seconds: float
    best_val_loss: float
    history: list[tuple[float, float]] = field(default_factory=list)

    def summary(self) -> str:
        m = self.metadata
        s = m.score_stats
        return "\n".join([
            f"trained {m.kind} model {m.model_id}: {self.epochs_run} epochs in {self.seconds:.0f} s "
            f"on {m.train.get('device')}, best val loss {self.best_val_loss:.4f}",
            f"  good validation scores: median {s.get('p50', 0):.4f}, max {s.get('max', 0):.4f} (n={s.get('n')})",
            f"  threshold {m.image_threshold:.4f} (pixel {m.pixel_threshold:.4f}), policy: "
            f"{m.calibration.get('policy')} target {m.calibration.get('frr_target')}",
            f"  saved to {self.model_dir}",
        ])
