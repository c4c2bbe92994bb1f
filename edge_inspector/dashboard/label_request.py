"""One technician's label of a reject as the dashboard receives it: POST /api/rejects/<seq>/label with
{"defect_type": ..., "author": ..., "note": ...}. Every field is checked and bounded here, before anything
touches the disk; a problem is a LabelError with its HTTP status and one line naming the key (value capped)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config.label_names import GOOD, name_problem
from ..config.redact import cap

MAX_BODY = 4096  # bytes of a label request; a larger one is refused (413) before it is parsed
MAX_AUTHOR = 64  # characters of the technician's name
MAX_NOTE = 200  # characters of the optional note
KEYS = ("defect_type", "author", "note")


class LabelError(Exception):
    """A label refused: `status` is the HTTP answer, the message one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Label:
    """A checked label: a defect type name (or "good" for a false reject), who gave it, and why."""

    defect_type: str
    author: str
    note: str


def _text(data: dict[str, Any], key: str, limit: int, required: bool) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise LabelError(400, f"{key}: expected a text of {1 if required else 0}..{limit} characters, got "
                              f"{cap(value, 60) if value is not None else 'nothing'}")
    text = value.strip()
    if (required and not text) or len(value) > limit or not value.isprintable():
        raise LabelError(400, f"{key}: expected {1 if required else 0}..{limit} printable characters, got "
                              f"{cap(value, 80)} ({len(value)} characters)")
    return text


def parse_label(data: Any) -> Label:
    """The checked Label in a request body (already JSON-decoded); LabelError(400) naming the key otherwise.
    Any spelling of "good" is the one type "good": a false reject, kept as a good image for training."""
    if not isinstance(data, dict):
        raise LabelError(400, "label: expected a JSON object {\"defect_type\": ..., \"author\": ..., \"note\": ...}")
    unknown = [k for k in data if k not in KEYS]
    if unknown:
        raise LabelError(400, f"{cap(unknown[0], 60)}: unknown key (known: {', '.join(KEYS)})")
    defect_type = data.get("defect_type")
    problem = name_problem(defect_type) if defect_type is not None else "expected a defect type name, got nothing"
    if problem is not None:
        raise LabelError(400, f"defect_type: {problem}")
    assert isinstance(defect_type, str)
    if defect_type.lower() == GOOD:
        defect_type = GOOD
    return Label(defect_type, _text(data, "author", MAX_AUTHOR, True), _text(data, "note", MAX_NOTE, False))
