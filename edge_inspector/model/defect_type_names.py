"""The class names of a defect-type classifier (metadata.json arch["classes"]), checked without torch: the
daemon's torch-free runtime (backends/defect_typer.py) reads them, and each may end up in a verdict's
`defect_type.name`, on a PLC's display and in a bin's label, so they are short, unique and plain."""

from __future__ import annotations

import re
from typing import Any

from .kinds import model_kind
from .metadata import MetadataError, ModelMetadata

NAME_LIMIT = 64  # characters of one class name (the verdict schema's defect_type.name maxLength)
MAX_CLASSES = 256  # more defect types than any line sorts parts into
CLASS_NAME = re.compile(r"[A-Za-z0-9 _.-]+")


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...[cut]"


def check_class_names(names: Any, where: str = "classes") -> list[str]:
    """`names` as a list of 2..MAX_CLASSES unique strings of 1..NAME_LIMIT characters of [A-Za-z0-9 _.-]
    (not blank); ValueError naming `where` and the first bad value otherwise."""
    if not isinstance(names, (list, tuple)):
        raise ValueError(f"{where}: expected a list of class names, got {_short(names)}")
    if not 2 <= len(names) <= MAX_CLASSES:
        raise ValueError(f"{where}: expected 2 to {MAX_CLASSES} class names, got {len(names)}")
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not isinstance(name, str) or not 1 <= len(name) <= NAME_LIMIT or not CLASS_NAME.fullmatch(name) \
                or not name.strip():
            raise ValueError(f"{where}[{i}]: expected 1 to {NAME_LIMIT} characters of A-Z a-z 0-9 space _ . -, "
                             f"got {_short(name)}")
        if name in seen:
            raise ValueError(f"{where}[{i}]: {name!r} appears twice")
        seen.add(name)
    return list(names)


def is_type_classifier(meta: ModelMetadata) -> bool:
    """True when the model names defect types (its kind's family in model/kinds.py) instead of judging parts."""
    return model_kind(meta.kind).family == "type-classifier"


def type_classifier_classes(model_dir: Any) -> tuple[ModelMetadata, list[str]]:
    """The metadata and class names of a defect-type classifier's model dir; MetadataError (one line naming the
    dir) when it is not one or its class names are unusable."""
    meta = ModelMetadata.load(model_dir)
    if not is_type_classifier(meta):
        raise MetadataError(f"{model_dir}: model kind {meta.kind} judges parts, it does not name defect types "
                            "(model.defect_types takes a model trained with `train --kind defect-types`)")
    try:
        return meta, check_class_names(meta.arch.get("classes"), f"{model_dir}/metadata.json: arch.classes")
    except ValueError as exc:
        raise MetadataError(str(exc)) from None
