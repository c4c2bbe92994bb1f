"""The benchmark's parts: the null backend, the memory source, stage timing, frame sizes, and the overhead
cuts in postprocess and annotate, which must give exactly the results of the straightforward code."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from edge_inspector.backends import Backend
from edge_inspector.backends.null_backend import DEFECT_VALUE, THRESHOLD, NullBackend
from edge_inspector.bench.model_bench import bench_frames, parse_frame_size
from edge_inspector.capture import MemorySource
from edge_inspector.config import InspectionConfig, MorphologyConfig
from edge_inspector.model.preprocess import map_to_frame
from edge_inspector.postprocess import find_boxes, postprocess, regions, threshold_mask
from edge_inspector.publish.annotate import annotate
from edge_inspector.service.stages import StageTimes
from edge_inspector.types import Inspection, Verdict


def test_null_backend_returns_constant_maps_at_frame_resolution() -> None:
    backend = NullBackend((32, 48), value=0.1, score=0.2)
    assert isinstance(backend, Backend) and backend.metadata.input_size == (32, 48)
    frames = [np.zeros((100, 120, 3), np.uint8), np.zeros((64, 64, 3), np.uint8)]
    maps = backend.infer(frames)
    assert [m.map.shape for m in maps] == [(100, 120), (64, 64)]
    assert all(m.map.dtype == np.float32 and np.allclose(m.map, 0.1) and m.score == 0.2 for m in maps)
    assert backend.frames == 2 and len(backend.preprocess_ms) == len(backend.map_back_ms) == 1


def test_null_backend_defect_frames_go_through_map_to_frame_and_fail() -> None:
    backend = NullBackend((32, 32), defect_every=3)
    backend.warmup()
    assert backend.frames == 0 and not backend.preprocess_ms, "warm-up is not counted"
    frame = np.zeros((256, 320, 3), np.uint8)
    maps = [backend.infer([frame])[0] for _ in range(6)]
    assert [m.score for m in maps] == [0.0, 0.0, DEFECT_VALUE, 0.0, 0.0, DEFECT_VALUE]
    small = np.zeros((32, 32), np.float32)
    small[10:14, 10:14] = DEFECT_VALUE
    assert np.array_equal(maps[2].map, map_to_frame(small, frame.shape, backend.metadata))
    verdict, boxes, _ = postprocess(maps[2].map, maps[2].score, threshold=THRESHOLD, pixel_threshold=THRESHOLD,
                                    cfg=InspectionConfig())
    assert verdict is Verdict.FAIL and len(boxes) == 1
    assert postprocess(maps[0].map, maps[0].score, threshold=THRESHOLD, pixel_threshold=THRESHOLD,
                       cfg=InspectionConfig())[0] is Verdict.PASS


@pytest.mark.parametrize(("kwargs", "match"), [({"input_size": (4, 96)}, "input_size"),
                                               ({"defect_every": -1}, "defect_every")])
def test_null_backend_refuses_bad_settings(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        NullBackend(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "size"), [("1280x1024", (1280, 1024)), ("256", (256, 256)),
                                            ("64X48", (64, 48))])
def test_frame_size_is_width_by_height(text: str, size: tuple[int, int]) -> None:
    assert parse_frame_size(text) == size


@pytest.mark.parametrize("text", ["", "x", "1280x", "4x4", "1x2x3", "wide"])
def test_bad_frame_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        parse_frame_size(text)


def test_bench_frames_have_the_asked_size() -> None:
    frames = bench_frames(80, 48, n=4)
    assert [f.shape for f in frames] == [(48, 80, 3)] * 4 and all(f.dtype == np.uint8 for f in frames)


def test_memory_source_cycles_its_images_then_ends() -> None:
    images = [np.full((8, 8, 3), i, np.uint8) for i in range(2)]
    source = MemorySource(images, count=3)
    source.open()
    reads = [source.read() for _ in range(4)]
    assert [r.kind for r in reads] == ["frame", "frame", "frame", "end"]
    assert [r.source_index for r in reads[:3]] == [0, 1, 2]
    assert reads[2].image is images[0], "handed over, not copied"


def test_stage_times_keep_pipeline_order() -> None:
    stages = StageTimes()
    for name, ms in (("zzz", 1.0), ("audit", 2.0), ("infer", 3.0), ("annotate", 4.0)):
        stages.add(name, ms)
    with stages.time("infer"):
        pass
    totals = stages.totals()
    assert list(totals) == ["infer", "audit", "annotate", "zzz"]
    assert totals["infer"].n == 2 and totals["audit"].mean == 2.0


def blob_map(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    small = (rng.random((int(rng.integers(3, 16)), int(rng.integers(3, 16)))) ** rng.choice([1, 4, 12]))
    return cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


@pytest.mark.parametrize("morphology", [MorphologyConfig(), MorphologyConfig(0, 0), MorphologyConfig(3, 0),
                                        MorphologyConfig(0, 7), MorphologyConfig(9, 11)])
def test_regions_equal_the_whole_map_search(morphology: MorphologyConfig) -> None:
    rng = np.random.default_rng(7)
    for trial in range(60):
        h, w = (int(v) for v in rng.integers(20, 200, 2))
        amap = blob_map(rng, h, w)
        if trial % 4 == 1:
            amap = (rng.random((h, w)) < 0.003).astype(np.float32)  # specks, some on the border
        if trial % 4 == 2:
            amap[: int(rng.integers(1, 5)), :] = 1.0  # a region along the edge
        for pix in (0.3, 0.6, 0.95, 2.0):
            cfg = InspectionConfig(min_defect_area=int(rng.integers(0, 30)), morphology=morphology,
                                   max_boxes=int(rng.integers(1, 20)))
            whole = find_boxes(threshold_mask(amap, pix, morphology), amap, cfg.min_defect_area, cfg.max_boxes)
            assert regions(amap, pix, cfg) == whole, (trial, pix)


def reference_annotation(image: np.ndarray, inspection: Inspection, amap: np.ndarray) -> np.ndarray:
    """The heatmap blend as first written (before the in-place version), for comparison."""
    clean = np.nan_to_num(amap.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    thr = inspection.threshold
    top = 2.0 * thr if math.isfinite(thr) and thr > 0 else float(clean.max())
    top = top if top > 0 else 1.0
    heat = cv2.applyColorMap((np.clip(clean / top, 0.0, 1.0) * 255.0).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.addWeighted(heat, 0.35, image.copy(), 0.65, 0.0)


@pytest.mark.parametrize("threshold", [0.5, 0.0, float("nan")])
@pytest.mark.parametrize("poison", [None, np.nan, np.inf])
def test_annotation_heatmap_is_unchanged(threshold: float, poison: float | None) -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    amap = blob_map(rng, 60, 80) * 3
    if poison is not None:
        amap[5, 5] = poison
    insp = Inspection(seq=1, source_index=1, name="f", captured_at=0.0, decided_at=0.0, verdict=Verdict.FAIL,
                      score=0.9, threshold=threshold)
    drawn = annotate(image, insp, amap)
    bar = 20  # the header bar is drawn on top; compare the blend below it
    assert np.array_equal(drawn[bar:], reference_annotation(image, insp, amap)[bar:])
