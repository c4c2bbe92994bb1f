"""Image-level model kinds (model/kinds.py, has_map False) are judged by their score alone, whatever their map
holds, with a reason that says there is no map; models with a map keep needing a region."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edge_inspector.config.models import InspectionConfig
from edge_inspector.model.kinds import INSPECTION_KINDS, REGISTRY, UnknownKind, model_kind
from edge_inspector.model.metadata import MetadataError, ModelMetadata
from edge_inspector.postprocess import postprocess
from edge_inspector.service.inspection_mask import InspectionMask
from edge_inspector.service.profile_settings import InspectionSettings, resolve_settings
from edge_inspector.service.proposal import proposed_settings
from edge_inspector.types import Verdict

FLAT = np.zeros((40, 50), np.float32)


def test_an_image_level_score_over_the_threshold_fails_without_a_region() -> None:
    cfg = InspectionConfig(require_region=True, min_defect_area=10)
    verdict, boxes, reason = postprocess(FLAT, 0.9, threshold=0.5, pixel_threshold=0.3, cfg=cfg,
                                         image_level="ocsvm")
    assert verdict == Verdict.FAIL and boxes == ()
    assert reason == "score 0.900 >= threshold 0.500; image-level model (ocsvm): no map to locate the defect"
    # The same map and score from a model with a map: no region, so the part passes (require_region).
    verdict, boxes, reason = postprocess(FLAT, 0.9, threshold=0.5, pixel_threshold=0.3, cfg=cfg)
    assert verdict == Verdict.PASS and "no region" in reason


def test_an_image_level_model_never_boxes_its_map_and_passes_below_the_threshold() -> None:
    hot = np.ones((40, 50), np.float32)  # every pixel over the pixel threshold
    verdict, boxes, reason = postprocess(hot, 0.2, threshold=0.5, pixel_threshold=0.3, cfg=InspectionConfig(),
                                         image_level="lof")
    assert (verdict, boxes) == (Verdict.PASS, ())
    assert reason.startswith("score 0.200 < threshold 0.500") and "image-level model (lof)" in reason
    verdict, boxes, _ = postprocess(hot, 0.7, threshold=0.5, pixel_threshold=0.3, cfg=InspectionConfig(),
                                    image_level="lof")
    assert (verdict, boxes) == (Verdict.FAIL, ())


def test_a_non_finite_image_level_score_is_a_fault() -> None:
    verdict, boxes, _ = postprocess(FLAT, float("nan"), threshold=0.5, pixel_threshold=0.3, cfg=InspectionConfig(),
                                    image_level="iforest")
    assert (verdict, boxes) == (Verdict.FAULT, ())


def test_a_roi_does_not_replace_an_image_level_score_with_the_max_of_its_empty_map() -> None:
    # With a map model, the ROI's max of the map is the score (0 here); an image-level score is the image's.
    settings = InspectionSettings(0.5, 0.3, InspectionConfig(), InspectionMask([0, 0, 10, 10], None))
    assert settings.judge(FLAT, 0.9)[0] == Verdict.PASS
    image_level = InspectionSettings(0.5, 0.3, InspectionConfig(), InspectionMask([0, 0, 10, 10], None),
                                     image_level="ocsvm")
    assert image_level.judge(FLAT, 0.9)[0] == Verdict.FAIL


@pytest.mark.parametrize("kind", INSPECTION_KINDS)
def test_the_daemon_settings_know_each_kind_from_its_metadata(tmp_path: Path, kind: str) -> None:
    meta = ModelMetadata(model_id=f"{kind}-x", kind=kind, input_size=(32, 32), arch={})
    settings = resolve_settings(SimpleNamespace(inspection=InspectionConfig()), meta, tmp_path)  # type: ignore[arg-type]
    assert settings.image_level == (None if REGISTRY[kind].has_map else kind)
    # A what-if or a threshold change keeps judging the loaded model as it scores.
    assert proposed_settings(settings, InspectionConfig(), {"image_threshold": 0.1}).image_level \
        == settings.image_level


def test_the_classical_kinds_are_the_image_level_ones_and_an_unknown_kind_is_named() -> None:
    assert sorted(k for k in INSPECTION_KINDS if not model_kind(k).has_map) == ["iforest", "lof", "ocsvm"]
    with pytest.raises(UnknownKind, match=r"model kind: expected one of scratch, .*got 'svm'"):
        model_kind("svm")


def test_metadata_with_an_unregistered_kind_is_refused_in_one_line(tmp_path: Path) -> None:
    ModelMetadata(model_id="m", kind="scratch", input_size=(32, 32), arch={}).save(tmp_path)
    text = (tmp_path / "metadata.json").read_text().replace('"scratch"', '"resnet-classifier"')
    (tmp_path / "metadata.json").write_text(text)
    with pytest.raises(MetadataError, match=r"kind: expected one of .*got 'resnet-classifier'"):
        ModelMetadata.load(tmp_path)
