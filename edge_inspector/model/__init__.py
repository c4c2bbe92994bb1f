"""Models: metadata and preprocessing (no torch), networks and checkpoints (torch, imported lazily)."""

from .metadata import KINDS, MetadataError, ModelMetadata
from .preprocess import map_to_frame, preprocess

__all__ = ["KINDS", "MetadataError", "ModelMetadata", "map_to_frame", "preprocess"]
