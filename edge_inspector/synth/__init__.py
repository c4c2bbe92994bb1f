"""Synthetic product-line data: textured parts, defects with masks, MVTec-layout sets and line videos."""

from .dataset import DatasetSummary, generate_dataset, list_categories
from .defects import DEFECT_TYPES, Sample, apply_defect, render_sample
from .textures import CATEGORIES, Lighting, Scene, apply_lighting, render_scene, sample_lighting
from .video import FrameTruth, load_truth, render_line_video, truth_path

__all__ = [
    "CATEGORIES",
    "DEFECT_TYPES",
    "DatasetSummary",
    "FrameTruth",
    "Lighting",
    "Sample",
    "Scene",
    "apply_defect",
    "apply_lighting",
    "generate_dataset",
    "list_categories",
    "load_truth",
    "render_line_video",
    "render_sample",
    "render_scene",
    "sample_lighting",
    "truth_path",
]
