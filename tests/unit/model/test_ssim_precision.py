"""SSIM in reduced precision: the variances are differences of nearly equal numbers, so they are computed in fp32.

Measured before the fix on a flat, well-reconstructed image: max(1 - SSIM) 0.041 in fp32, 2.89 in fp16 and
11.9 in bf16 (a pixel model's anomaly map then lights up on every flat surface)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edge_inspector.model.losses import ssim_map  # noqa: E402


def _flat_pair() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    a = torch.full((1, 3, 64, 64), 0.62) + 0.002 * torch.randn(1, 3, 64, 64, generator=g)
    b = a + 0.004 * torch.randn(1, 3, 64, 64, generator=g)  # a good reconstruction of a flat part
    return a, b


def test_fp32_reference_is_small_on_a_flat_good_reconstruction() -> None:
    a, b = _flat_pair()
    assert float((1 - ssim_map(a, b)).max()) < 0.5


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_reduced_precision_inputs_give_the_fp32_map(dtype: torch.dtype) -> None:
    a, b = _flat_pair()
    ref = 1 - ssim_map(a, b)
    low = 1 - ssim_map(a.to(dtype), b.to(dtype))
    assert low.dtype == torch.float32
    # the inputs themselves are rounded to `dtype`, so the maps differ a little; before, by up to 11.9
    assert float((low - ref).abs().max()) < 0.1


def test_bf16_autocast_does_not_reach_the_ssim_statistics() -> None:
    a, b = _flat_pair()
    ref = 1 - ssim_map(a, b)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        low = 1 - ssim_map(a, b)
    assert low.dtype == torch.float32
    assert float((low - ref).abs().max()) < 1e-5
