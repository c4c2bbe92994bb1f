"""Tiled native-resolution scoring: tile geometry at edges and overlaps, blending, stitching, the tiled
backend around a pixel-exact scorer and around a real (tiny) model, and the profile fingerprint."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from edge_inspector.backends.base import Backend
from edge_inspector.backends.tiled import TiledBackend
from edge_inspector.model import tiling
from edge_inspector.model.metadata import ModelMetadata
from edge_inspector.model.tiling import TileSpec
from edge_inspector.types import AnomalyMap


@pytest.mark.parametrize(("length", "tile", "overlap", "expected"), [
    (64, 64, 16, [0]),
    (40, 64, 16, [0]),  # smaller than a tile: padded, one tile
    (112, 64, 16, [0, 48]),
    (113, 64, 16, [0, 48, 49]),  # the last tile flush with the end
    (256, 64, 0, [0, 64, 128, 192]),
    (200, 64, 32, [0, 32, 64, 96, 128, 136]),
])
def test_tile_positions_cover_the_axis_edge_to_edge(length: int, tile: int, overlap: int,
                                                    expected: list[int]) -> None:
    starts = tiling.positions(length, tile, overlap)
    assert starts == expected
    covered = np.zeros(max(length, tile), bool)
    for s in starts:
        covered[s:s + tile] = True
    assert covered.all() and starts[-1] + tile == max(length, tile)
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))  # neighbours share >= overlap


def test_the_blend_window_is_positive_symmetric_and_flat_in_the_middle() -> None:
    w = tiling.window(64, 16)
    assert w.shape == (64, 64) and w.dtype == np.float32 and w.min() >= tiling.EDGE_WEIGHT ** 2
    assert np.allclose(w, w.T) and np.allclose(w, w[::-1, ::-1]) and w[16:48, 16:48].min() == 1.0
    assert (tiling.window(32, 0) == 1.0).all()


@pytest.mark.parametrize(("height", "width"), [(64, 64), (100, 170), (65, 129), (300, 80)])
def test_stitching_tiles_of_one_map_gives_that_map_back(height: int, width: int) -> None:
    rng = np.random.default_rng(0)
    truth = rng.random((height, width), dtype=np.float32)
    tiles = tiling.grid(height, width, 64, 24)
    maps = [truth[y:y + 64, x:x + 64] for y, x in tiles]
    out = tiling.stitch(maps, tiles, height, width, tiling.window(64, 24))
    assert out.shape == (height, width) and np.allclose(out, truth, atol=1e-6)


def test_stitching_blends_disagreeing_tiles_towards_each_tiles_middle() -> None:
    tiles = tiling.grid(64, 112, 64, 16)  # two tiles sharing columns 48..63
    left, right = np.zeros((64, 64), np.float32), np.ones((64, 64), np.float32)
    out = tiling.stitch([left, right], tiles, 64, 112, tiling.window(64, 16))
    assert (out[:, :48] == 0).all() and (out[:, 64:] == 1).all()
    row = out[32, 48:64]
    assert (np.diff(row) > 0).all() and 0 < row[0] < 0.5 < row[-1] < 1  # a smooth hand-over, no seam


def test_stitch_refuses_maps_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="2 maps for 1 tiles"):
        tiling.stitch([np.zeros((8, 8), np.float32)] * 2, [(0, 0)], 8, 8, tiling.window(8, 0))
    with pytest.raises(ValueError, match="do not cover"):
        tiling.stitch([np.zeros((8, 8), np.float32)], [(0, 0)], 8, 20, tiling.window(8, 0))


@pytest.mark.parametrize(("shape", "size", "expected"), [
    ((1024, 1280), 640, (512, 640)), ((2048, 2448), 1224, (1024, 1224)), ((300, 200), 640, (300, 200)),
    ((1024, 1280), 0, (1024, 1280)), ((4000, 100), 1000, (1000, 25)),
])
def test_working_shape_keeps_the_aspect_and_never_upscales(shape: tuple[int, int], size: int,
                                                           expected: tuple[int, int]) -> None:
    assert tiling.working_shape(*shape, size) == expected


def test_frame_score_is_the_max_or_the_top_k_mean() -> None:
    amap = np.zeros((10, 10), np.float32)
    amap[0, :3] = (0.9, 0.6, 0.3)
    assert tiling.frame_score(amap, TileSpec(16, 0, 0, "max")) == pytest.approx(0.9)
    assert tiling.frame_score(amap, TileSpec(16, 0, 0, "topk", 2)) == pytest.approx(0.75)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"tile": 4}, "tiling.tile"), ({"tile": 64, "overlap": 64}, "tiling.overlap"),
    ({"working_size": -1}, "tiling.working_size"), ({"score": "mean"}, "tiling.score"),
])
def test_bad_tile_settings_name_the_key(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TileSpec(**kwargs)  # type: ignore[arg-type]


class PixelScorer(Backend):
    """A scorer whose map is the image's green channel / 255 and score its max: pixel-exact, so a tiled run
    must reproduce the frame's own green channel at the working resolution."""

    name = "pixel"

    def __init__(self, size: int) -> None:
        self.metadata = ModelMetadata(model_id="px", kind="scratch", input_size=(size, size), arch={})
        self.calls: list[int] = []

    def infer(self, images: Sequence[np.ndarray]) -> list[AnomalyMap]:
        self.calls.append(len(images))
        return [AnomalyMap((img[:, :, 1].astype(np.float32) / 255.0), float(img[:, :, 1].max()) / 255.0)
                for img in images]


@pytest.mark.parametrize("shape", [(100, 170), (40, 50), (128, 128)])
def test_the_tiled_backend_reassembles_the_frame_in_one_batch(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    inner = PixelScorer(32)
    backend = TiledBackend(inner, TileSpec(0, 8))
    (out,) = backend.infer([frame])
    assert out.map.shape == shape and np.allclose(out.map, frame[:, :, 1] / 255.0, atol=1e-5)
    assert out.score == pytest.approx(frame[:, :, 1].max() / 255.0, abs=1e-5)
    assert inner.calls == [backend.tiles_per_frame(*shape)], "all tiles of a frame in one call"
    assert "+tiles32/8@native:max" in backend.name


def test_the_tiled_backend_crops_the_model_roi_and_resizes_to_the_working_size() -> None:
    frame = np.zeros((200, 300, 3), np.uint8)
    frame[50:150, 100:200, 1] = 255  # the part
    inner = PixelScorer(32)
    inner.metadata = ModelMetadata(model_id="px", kind="scratch", input_size=(32, 32), arch={},
                                   roi=(100, 50, 100, 100))
    backend = TiledBackend(inner, TileSpec(0, 8, working_size=64))
    (out,) = backend.infer([frame])
    assert backend.metadata.roi == (100, 50, 100, 100) and inner.metadata.roi is None
    assert out.map.shape == (200, 300) and out.map[50:150, 100:200].min() > 0.99
    assert out.map[:50].max() == 0 and out.map[:, :100].max() == 0  # outside the ROI: nothing scored


def test_tiling_needs_a_square_model_of_the_tile_size() -> None:
    from edge_inspector.backends import BackendError

    inner = PixelScorer(32)
    inner.metadata = ModelMetadata(model_id="px", kind="scratch", input_size=(32, 48), arch={})
    with pytest.raises(BackendError, match="square model input"):
        TiledBackend(inner, TileSpec())
    with pytest.raises(BackendError, match="tiling.overlap"):
        TiledBackend(PixelScorer(32), TileSpec(0, 40))


def test_a_real_model_tiled_over_one_tile_scores_like_the_single_pass(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the tiny test model is a PyTorch checkpoint")
    from helpers.tiny_model import make_model

    from edge_inspector.backends import BackendOptions, create_backend

    model = make_model(tmp_path)
    frame = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    single = create_backend("torch", model, "cpu", BackendOptions(threads=1))
    tiled = create_backend("torch", model, "cpu", BackendOptions(threads=1, tiling=TileSpec(0, 16)))
    a, b = single.infer([frame])[0], tiled.infer([frame])[0]
    assert b.score == pytest.approx(a.score, rel=1e-5) and np.allclose(a.map, b.map, atol=1e-5)
    big = np.random.default_rng(3).integers(0, 256, (150, 230, 3), dtype=np.uint8)
    out = tiled.infer([big])[0]
    assert out.map.shape == (150, 230) and np.isfinite(out.map).all() and out.score == pytest.approx(
        float(out.map.max()), rel=1e-4)


def test_a_profile_fits_one_way_of_scoring(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the tiny test model is a PyTorch checkpoint")
    from helpers.tiny_model import make_model

    from edge_inspector.calibration.profile import model_fingerprint

    model = make_model(tmp_path)
    single, tiled = model_fingerprint(model), model_fingerprint(model, TileSpec(0, 16, 512, "topk", 50))
    assert tiled == single + ":tiles16@512:top50"


# ---- issue 18 item 6: a tiled warm-up reaches every batch size the tiles are sent in ----------------


def test_tiled_warmup_runs_the_inner_backend_at_max_batch_too(tmp_path: Path) -> None:
    """Before, the tiled warm-up scored one input-size frame (one tile): the inner backend only ever saw
    batch 1, so torch-CUDA captured its max_batch graph on the first multi-tile part, on the hot path."""
    pytest.importorskip("torch", reason="the tiny test model is a PyTorch checkpoint")
    from helpers.tiny_model import make_model

    from edge_inspector.backends import BackendOptions
    from edge_inspector.backends.torch_backend import TorchBackend

    class Recording(TorchBackend):  # the real CPU backend; only records the batch sizes it is handed
        sizes: list[int]

        def infer(self, images: Sequence[np.ndarray]) -> list[AnomalyMap]:
            self.sizes.append(len(images))
            return super().infer(images)

    inner = Recording(make_model(tmp_path), "cpu", BackendOptions(threads=1, max_batch=4))
    inner.sizes = []
    backend = TiledBackend(inner, TileSpec(0, 16))
    backend.warmup(1)
    assert 4 in inner.sizes and 1 in inner.sizes, inner.sizes
    big = np.random.default_rng(4).integers(0, 256, (150, 230, 3), dtype=np.uint8)
    inner.sizes.clear()
    backend.infer([big])
    assert inner.sizes == [backend.tiles_per_frame(150, 230)] and inner.sizes[0] > 4  # chunks of 4 on the device


def test_the_base_loop_chunks_by_max_batch_and_refuses_when_closed(tmp_path: Path) -> None:
    """Backend.infer is the one chunk -> score_batch -> map_to_frame loop (issue 20)."""
    pytest.importorskip("torch", reason="the tiny test model is a PyTorch checkpoint")
    from helpers.tiny_model import make_model

    from edge_inspector.backends import BackendError, BackendOptions
    from edge_inspector.backends.torch_backend import TorchBackend

    class Chunks(TorchBackend):
        seen: list[int]

        def score_batch(self, chunk: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            self.seen.append(len(chunk))
            return super().score_batch(chunk)

    backend = Chunks(make_model(tmp_path), "cpu", BackendOptions(threads=1, max_batch=3))
    backend.seen = []
    frames = [np.random.default_rng(i).integers(0, 256, (50 + i, 70, 3), dtype=np.uint8) for i in range(7)]
    out = backend.infer(frames)
    assert backend.seen == [3, 3, 1]
    assert [o.map.shape for o in out] == [f.shape[:2] for f in frames]
    singles = [backend.infer([f])[0].score for f in frames]
    assert [o.score for o in out] == pytest.approx(singles, rel=1e-5, abs=1e-6)
    assert backend.warmup_batches() == [1, 3]
    backend.close()
    with pytest.raises(BackendError, match="is closed"):
        backend.infer(frames[:1])
