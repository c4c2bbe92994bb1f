"""The `vae` kind: a convolutional variational autoencoder trained on good parts only.

Encoder: `downsamples` stride-2 conv blocks, then 1x1 convs to a spatial latent (mu, logvar) of `latent`
channels at 1/2**downsamples of the input (4x4 at 64 px, 16x16 at 256 px: a spatial latent keeps the map
sharp where a vector would blur it). Decoder: (upsample x2, conv block) back to the input size.

Training samples z = mu + sigma * eps (training/vae_objective.py); the eval forward decodes the mean latent, so
a score is deterministic and the graph exports without a random op. The anomaly map (before smoothing):
  - default: mean over RGB of |x - reconstruction| in the normalised space (like the pixel kind's L1 term);
    arch "ssim": true averages it with (1 - SSIM), exactly as the pixel kind does;
  - arch "likelihood": true: the decoder also gives a per-pixel log-variance and the map is the per-pixel
    Gaussian negative log-likelihood 0.5 * (logvar + (x - mu)^2 / exp(logvar)), shifted by -0.5 * LOGVAR_MIN
    so that it is never negative (a constant: scores and thresholds order the same), mean over RGB.
Score = max of the Gaussian-smoothed map (networks._Scored), as for every autoencoder kind.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .metadata import MetadataError
from .networks import _Scored, conv_block

# The decoder's log-variance is clamped to this range: exp(-logvar) stays finite in fp16/bf16 and one
# pixel cannot buy an arbitrarily low loss by shrinking its variance to zero.
LOGVAR_MIN, LOGVAR_MAX = -6.0, 4.0
DEFAULTS: dict[str, Any] = {"width": 128, "latent": 16, "downsamples": 4, "beta": 1e-3, "likelihood": False,
                            "ssim": False}
# (lowest, highest) of each integer arch key: metadata.json is read from disk, and a huge width would build a
# network that exhausts memory before any error could name the key.
INT_RANGES = {"width": (8, 1024), "latent": (1, 512), "downsamples": (1, 6)}


def arch_ints(kind: str, arch: dict[str, Any], defaults: dict[str, Any],
              ranges: dict[str, tuple[int, int]]) -> dict[str, int]:
    """The integer keys of `ranges` from arch (missing: defaults), each checked; MetadataError (one line) names
    the kind, the key and the value (capped) otherwise."""
    out = {}
    for key, (low, high) in ranges.items():
        value = arch.get(key, defaults[key])
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise MetadataError(f"{kind} arch {key}: expected an integer {low}..{high}, got {str(value)[:40]!r}")
        out[key] = value
    return out


def vae_channels(width: int, downsamples: int) -> list[int]:
    """Encoder channels per stage: width/4 doubling per stage, capped at width (32, 64, 128, 128 at 128)."""
    base = max(8, width // 4)
    return [min(width, base * 2**i) for i in range(downsamples)]


class ConvVAE(_Scored):
    """Convolutional VAE; eval forward(x) -> (anomaly_map [B,1,H,W], score [B]) from the mean latent."""

    def __init__(self, input_size: tuple[int, int], width: int = 128, latent: int = 16, downsamples: int = 4,
                 likelihood: bool = False, ssim: bool = False, beta: float = 1e-3) -> None:
        super().__init__(input_size)
        h, w = input_size
        arch_ints("vae", {"width": width, "latent": latent, "downsamples": downsamples}, DEFAULTS, INT_RANGES)
        if h % 2**downsamples or w % 2**downsamples:
            raise MetadataError(f"vae input_size {h}x{w}: expected multiples of {2**downsamples} "
                                f"(2**downsamples, downsamples={downsamples})")
        if not 0 <= beta <= 1e3:  # also refuses NaN
            raise MetadataError(f"vae arch beta: expected a number 0..1000, got {beta}")
        chans = vae_channels(width, downsamples)
        downs, cin = [], 3
        for c in chans:
            downs.append(nn.Sequential(nn.Conv2d(cin, c, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c),
                                       nn.ReLU(inplace=True)))
            cin = c
        self.encoder = nn.Sequential(*downs)
        self.to_mu = nn.Conv2d(cin, latent, 1)
        self.to_logvar = nn.Conv2d(cin, latent, 1)
        self.from_latent = conv_block(latent, cin)
        ups = [conv_block(chans[i], chans[i - 1] if i > 0 else chans[0]) for i in reversed(range(downsamples))]
        self.ups = nn.ModuleList(ups)
        self.likelihood = likelihood
        self.use_ssim = ssim
        self.beta = float(beta)  # read by the training objective only; the eval graph does not use it
        self.out = nn.Conv2d(chans[0], 6 if likelihood else 3, 3, padding=1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of the spatial latent [B, latent, H/2**d, W/2**d]."""
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(reconstruction [B,3,H,W], per-pixel log-variance [B,3,H,W] clamped, or None without likelihood)."""
        h = self.from_latent(z)
        for block in self.ups:
            h = block(F.interpolate(h, scale_factor=2.0, mode="bilinear", align_corners=False))
        out = self.out(h)
        if not self.likelihood:
            return out, None
        return out[:, :3], out[:, 3:].clamp(LOGVAR_MIN, LOGVAR_MAX)

    def error_map(self, x: torch.Tensor, recon: torch.Tensor, logvar: torch.Tensor | None) -> torch.Tensor:
        """The raw (unsmoothed) per-pixel map [B,1,H,W] in fp32; also the per-pixel reconstruction loss."""
        x, recon = x.float(), recon.float()
        if logvar is not None:
            lv = logvar.float()
            nll = 0.5 * (lv - LOGVAR_MIN + (x - recon) ** 2 * torch.exp(-lv))
            return nll.mean(1, keepdim=True)
        err = (x - recon).abs().mean(1, keepdim=True)
        if not self.use_ssim:
            return err
        from .losses import ssim_map

        return 0.5 * (err + (1 - ssim_map(x, recon)).mean(1, keepdim=True))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, _ = self.encode(x)
        recon, logvar = self.decode(mu)  # the mean latent: no sampling at inference
        return self.score(self.error_map(x, recon, logvar))


def build_vae(input_size: tuple[int, int], arch: dict[str, Any]) -> nn.Module:
    """The vae kind's network from its metadata arch (missing keys take DEFAULTS)."""
    a = {**DEFAULTS, **arch}
    for key in ("likelihood", "ssim"):
        if not isinstance(a[key], bool):
            raise MetadataError(f"vae arch {key}: expected true or false, got {str(a[key])[:40]!r}")
    beta = a["beta"]
    if not isinstance(beta, (int, float)) or isinstance(beta, bool):
        raise MetadataError(f"vae arch beta: expected a number, got {str(beta)[:40]!r}")
    n = arch_ints("vae", a, DEFAULTS, INT_RANGES)
    return ConvVAE(input_size, n["width"], n["latent"], n["downsamples"], a["likelihood"], a["ssim"], float(beta))
