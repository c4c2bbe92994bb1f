"""Geometry and verdict tables for postprocess, plus annotate's contract."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_inspector.config.models import InspectionConfig, MorphologyConfig
from edge_inspector.postprocess import decide, find_boxes, postprocess, threshold_mask
from edge_inspector.publish.annotate import annotate
from edge_inspector.types import Box, Inspection, Verdict

OFF = MorphologyConfig(open=0, close=0)
Blob = tuple[int, int, int, int, float]  # x, y, w, h, value (exact in float32)


def make_map(*blobs: Blob, size: tuple[int, int] = (64, 64)) -> np.ndarray:
    amap = np.zeros(size, np.float32)
    for x, y, w, h, value in blobs:
        amap[y : y + h, x : x + w] = value
    return amap


def ring() -> np.ndarray:
    amap = make_map((10, 10, 10, 10, 0.75))
    amap[13:17, 13:17] = 0.0  # a 4x4 hole: not part of the region's area
    return amap


GEOMETRY = [
    # id, map, morphology, min_area, max_boxes, expected boxes
    ("single rectangle", make_map((5, 10, 20, 10, 0.75)), OFF, 1, 20, [Box(5, 10, 20, 10, 200, 0.75)]),
    ("single pixel has area 1", make_map((7, 9, 1, 1, 0.75)), OFF, 1, 20, [Box(7, 9, 1, 1, 1, 0.75)]),
    ("two blobs, highest peak first", make_map((2, 2, 6, 6, 0.625), (40, 40, 4, 4, 0.875)), OFF, 1, 20,
     [Box(40, 40, 4, 4, 16, 0.875), Box(2, 2, 6, 6, 36, 0.625)]),
    ("blob below min_area dropped", make_map((2, 2, 6, 6, 0.625), (40, 40, 2, 2, 0.875)), OFF, 5, 20,
     [Box(2, 2, 6, 6, 36, 0.625)]),
    ("max_boxes keeps the highest peaks", make_map((2, 2, 3, 3, 0.5), (20, 2, 3, 3, 0.75), (40, 2, 3, 3, 0.625)),
     OFF, 1, 2, [Box(20, 2, 3, 3, 9, 0.75), Box(40, 2, 3, 3, 9, 0.625)]),
    ("hole pixels are not area", ring(), OFF, 1, 20, [Box(10, 10, 10, 10, 84, 0.75)]),
    ("speck removed by opening", make_map((10, 10, 12, 12, 0.75), (50, 50, 1, 1, 1.0)),
     MorphologyConfig(open=3, close=0), 1, 20, [Box(10, 10, 12, 12, 140, 0.75)]),  # 3x3 ellipse = cross: 4 corners go
    ("fragments joined by closing", make_map((10, 10, 8, 8, 0.75), (19, 10, 8, 8, 0.875)),
     MorphologyConfig(open=0, close=5), 1, 20, [Box(10, 10, 17, 8, 134, 0.875)]),  # gap filled but its two ends
    ("empty map", make_map(), OFF, 1, 20, []),
    ("value equal to the pixel threshold counts", make_map((3, 3, 2, 2, 0.5)), OFF, 1, 20, [Box(3, 3, 2, 2, 4, 0.5)]),
    ("just below the pixel threshold does not", make_map((3, 3, 2, 2, 0.4995)), OFF, 1, 20, []),
]


@pytest.mark.parametrize(
    ("amap", "morphology", "min_area", "max_boxes", "expected"),
    [case[1:] for case in GEOMETRY],
    ids=[case[0] for case in GEOMETRY],
)
def test_geometry(amap: np.ndarray, morphology: MorphologyConfig, min_area: int, max_boxes: int,
                  expected: list[Box]) -> None:
    mask = threshold_mask(amap, 0.5, morphology)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
    assert list(find_boxes(mask, amap, min_area, max_boxes)) == expected


DECISIONS = [
    # score, boxes, threshold, require_region, verdict, reason
    (0.12, (), 0.5, True, Verdict.PASS, "score 0.120 < threshold 0.500"),
    (0.812, (Box(0, 0, 20, 17, 340, 0.9), Box(30, 0, 2, 2, 4, 0.8)), 0.5, True, Verdict.FAIL,
     "score 0.812 >= threshold 0.500; 2 regions, largest 340 px"),
    (0.5, (Box(0, 0, 5, 5, 25, 0.5),), 0.5, True, Verdict.FAIL,
     "score 0.500 >= threshold 0.500; 1 region, largest 25 px"),
    (0.812, (), 0.5, True, Verdict.PASS, "score 0.812 >= threshold 0.500 but no region >= 30 px"),
    (0.812, (), 0.5, False, Verdict.FAIL, "score 0.812 >= threshold 0.500; no region located"),
    (0.3, (Box(0, 0, 5, 5, 25, 0.9),), 0.5, True, Verdict.PASS, "score 0.300 < threshold 0.500"),
]


@pytest.mark.parametrize("case", DECISIONS, ids=[c[5] for c in DECISIONS])
def test_decide(case: tuple[float, tuple[Box, ...], float, bool, Verdict, str]) -> None:
    score, boxes, threshold, require_region, verdict, reason = case
    assert decide(score, boxes, threshold, require_region, min_area=30) == (verdict, reason)


def test_postprocess_combines_the_steps() -> None:
    amap = make_map((10, 10, 8, 8, 0.75), (19, 10, 8, 8, 0.875), (50, 50, 1, 1, 1.0))
    cfg = InspectionConfig(min_defect_area=30, morphology=MorphologyConfig(open=3, close=5))
    verdict, boxes, reason = postprocess(amap, 0.875, threshold=0.6, pixel_threshold=0.5, cfg=cfg)
    assert verdict is Verdict.FAIL
    assert [(b.x, b.y, b.w, b.h) for b in boxes] == [(10, 10, 17, 8)]
    assert reason == f"score 0.875 >= threshold 0.600; 1 region, largest {boxes[0].area} px"


def test_non_finite_score_fails_closed_as_fault() -> None:
    verdict, boxes, reason = postprocess(make_map(), math.nan, threshold=0.5, pixel_threshold=0.5,
                                         cfg=InspectionConfig())
    assert verdict is Verdict.FAULT and boxes == () and "non-finite" in reason


BAD_INPUTS = [
    ("float64 map", np.zeros((8, 8)), 0.5, ValueError, "expected a 2-D float32.*got shape \\(8, 8\\) dtype float64"),
    ("3-D map", np.zeros((8, 8, 3), np.float32), 0.5, ValueError, "got shape \\(8, 8, 3\\)"),
    ("list map", [[0.0]], 0.5, TypeError, "expected a 2-D float32 numpy array, got list"),
    ("NaN threshold", np.zeros((8, 8), np.float32), math.nan, ValueError,
     "threshold: expected a finite number, got nan"),
    ("text threshold", np.zeros((8, 8), np.float32), "auto", TypeError,
     "threshold: expected a finite number, got 'auto'"),
]


@pytest.mark.parametrize(("amap", "threshold", "error", "message"), [c[1:] for c in BAD_INPUTS],
                         ids=[c[0] for c in BAD_INPUTS])
def test_bad_inputs_say_expected_and_actual(amap: object, threshold: object, error: type[Exception],
                                            message: str) -> None:
    with pytest.raises(error, match=message):
        postprocess(amap, 0.1, threshold=threshold, pixel_threshold=0.5, cfg=InspectionConfig())  # type: ignore[arg-type]


def test_mask_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="expected shape \\(8, 8\\).*got \\(4, 4\\)"):
        find_boxes(np.zeros((4, 4), np.uint8), np.zeros((8, 8), np.float32), 1, 20)


@pytest.mark.parametrize("verdict", list(Verdict))
@pytest.mark.parametrize("with_map", [True, False])
def test_annotate_returns_a_new_image_of_the_same_shape(verdict: Verdict, with_map: bool) -> None:
    image = np.full((256, 320, 3), 128, np.uint8)
    amap = make_map((40, 40, 30, 20, 0.9), size=(256, 320))
    boxes = (Box(40, 40, 30, 20, 600, 0.9),) if verdict is Verdict.FAIL else ()
    insp = Inspection(seq=3, source_index=3, name="f", captured_at=0.0, decided_at=0.0, verdict=verdict,
                      score=None if verdict is Verdict.FAULT else 0.9, threshold=0.5, boxes=boxes)
    out = annotate(image, insp, amap if with_map else None)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.array_equal(out, image)
    assert np.all(image == 128), "the input frame is not modified"


def test_annotate_refuses_a_grey_image() -> None:
    insp = Inspection(seq=0, source_index=0, name="f", captured_at=0.0, decided_at=0.0, verdict=Verdict.PASS,
                      score=0.1, threshold=0.5)
    with pytest.raises(ValueError, match="expected HxWx3 uint8, got shape \\(8, 8\\)"):
        annotate(np.zeros((8, 8), np.uint8), insp)


def test_min_region_peak_drops_faint_regions_before_the_box_limit() -> None:
    from edge_inspector.config import InspectionConfig
    from edge_inspector.postprocess import regions

    amap = np.zeros((60, 60), np.float32)
    amap[5:15, 5:15] = 0.55  # large but faint
    amap[40:44, 40:44] = 0.9  # small and strong
    keep_all = InspectionConfig(min_defect_area=4, morphology=MorphologyConfig(open=0, close=0))
    assert [b.peak for b in regions(amap, 0.5, keep_all)] == pytest.approx([0.9, 0.55])
    strict = InspectionConfig(min_defect_area=4, min_region_peak=0.6, morphology=MorphologyConfig(open=0, close=0),
                              max_boxes=1)
    assert [(b.x, b.y, b.w, b.h) for b in regions(amap, 0.5, strict)] == [(40, 40, 4, 4)]


@pytest.mark.parametrize(("roi", "ignore_box", "expected_boxes"), [
    (None, None, 2),                # everything inspected
    ([30, 30, 30, 30], None, 1),    # only the lower-right quarter
    (None, (0, 0, 30, 30), 1),      # the upper-left quarter ignored
    ([30, 30, 30, 30], (35, 35, 20, 20), 0),  # the only region inside the ROI is ignored
])
def test_inspection_mask_limits_regions_to_the_inspected_area(tmp_path, roi, ignore_box, expected_boxes) -> None:  # type: ignore[no-untyped-def]
    import cv2

    from edge_inspector.config import InspectionConfig
    from edge_inspector.postprocess import regions
    from edge_inspector.service.inspection_mask import InspectionMask

    amap = np.zeros((60, 60), np.float32)
    amap[5:15, 5:15] = 0.9
    amap[40:50, 40:50] = 0.8
    ignore = None
    if ignore_box is not None:
        x, y, w, h = ignore_box
        image = np.zeros((120, 120), np.uint8)  # another size than the map: scaled like the frame
        image[2 * y:2 * (y + h), 2 * x:2 * (x + w)] = 255
        ignore = tmp_path / "ignore.png"
        cv2.imwrite(str(ignore), image)
    mask = InspectionMask(roi, ignore)
    cfg = InspectionConfig(min_defect_area=4, morphology=MorphologyConfig(open=0, close=0))
    assert len(regions(mask.apply(amap), 0.5, cfg)) == expected_boxes
    assert float(amap.max()) == pytest.approx(0.9)  # the input map is not modified
