"""Command requests are validated before they are queued: every refusal names the key; the answers fit
docs/schemas/command-response.schema.json; a full queue answers "busy" at once."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from contract_schemas import validator

from edge_inspector.config import InspectionConfig
from edge_inspector.service.commands import NO_PROFILE, CommandError, CommandProcessor, parse_request
from edge_inspector.service.profile_settings import InspectionSettings

SET = {"id": "r1", "action": "set", "author": "ana", "reason": "new batch"}


@pytest.mark.parametrize(("request_", "names"), [
    ({"action": "show"}, "id"),
    ({"id": "", "action": "show"}, "id"),
    ({"id": 7, "action": "show"}, "id"),
    ({"id": "r1", "action": "explode"}, "action"),
    ({"id": "r1"}, "action"),
    ({"id": "r1", "action": "show", "colour": "red"}, "colour"),
    ({**SET, "set": {"image_threshold": 0.5, "threshold": 0.5}}, "set.threshold"),
    ({**SET, "set": {"image_threshold": float("nan")}}, "set.image_threshold"),
    ({**SET, "set": {"image_threshold": float("inf")}}, "set.image_threshold"),
    ({**SET, "set": {"image_threshold": "abc"}}, "set.image_threshold"),
    ({**SET, "set": {"pixel_threshold": True}}, "set.pixel_threshold"),
    ({**SET, "set": {"min_area": -1}}, "set.min_area"),
    ({**SET, "set": {"min_area": 2.5}}, "set.min_area"),
    ({**SET, "set": {"min_peak": -0.1}}, "set.min_peak"),
    ({**SET, "set": {"roi": [0, 0, 0, 10]}}, "set.roi"),
    ({**SET, "set": {"roi": [0, 0, 10]}}, "set.roi"),
    ({**SET, "set": {}}, "set"),
    ({**SET, "set": [0.5]}, "set"),
    ({**SET, "reason": "", "set": {"image_threshold": 0.5}}, "reason"),
    ({**SET, "reason": "   ", "set": {"image_threshold": 0.5}}, "reason"),
    ({"id": "r1", "action": "set", "reason": "x", "set": {"image_threshold": 0.5}}, "author"),
    ({**SET, "author": 3, "set": {"image_threshold": 0.5}}, "author"),
    ({**SET, "action": "rollback"}, "revision"),
    ({**SET, "action": "rollback", "revision": 0}, "revision"),
    ({**SET, "action": "rollback", "revision": "1"}, "revision"),
    ({"id": "r1", "action": "show", "revision": 1}, "revision"),
    ({"id": "r1", "action": "history", "set": {"min_area": 1}}, "set"),
])
def test_bad_requests_are_refused_naming_the_key(request_: dict[str, Any], names: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_request(request_)
    assert str(info.value).startswith(f"{names}:"), str(info.value)


@pytest.mark.parametrize("request_", [
    {"id": "r1", "action": "show"},
    {"id": "r1", "action": "history"},
    {**SET, "set": {"image_threshold": 1, "pixel_threshold": 0.4, "min_area": 0, "min_peak": 0.0,
                    "roi": [0, 0, 32, 32]}},
    {**SET, "set": {"roi": None}},
    {**SET, "action": "rollback", "revision": 1},
])
def test_good_requests_parse_and_fit_the_request_schema(request_: dict[str, Any]) -> None:
    parsed = parse_request(request_)
    assert parsed.id == "r1" and parsed.action == request_["action"]
    assert not list(validator("command-request").iter_errors(request_))


class Holder:
    """The daemon's side of the interface: the settings in force and the swap."""

    def __init__(self) -> None:
        self.settings = InspectionSettings(0.7, 0.6, InspectionConfig())

    def use_settings(self, settings: InspectionSettings) -> None:
        self.settings = settings


def processor(answers: list[dict[str, Any]], maxsize: int = 8) -> CommandProcessor:
    return CommandProcessor(Holder(), InspectionConfig(), "st1", "run-1", reply=answers.append, maxsize=maxsize)


def test_answers_fit_the_schema_and_nothing_runs_before_apply_pending() -> None:
    answers: list[dict[str, Any]] = []
    p = processor(answers)
    p.submit_json(b"not json")  # no id: logged, not answered
    p.submit({"id": "bad", "action": "set", "author": "a", "reason": "r", "set": {"min_area": -1}})
    p.submit({"id": "s", "action": "show"})
    p.submit({**SET, "set": {"image_threshold": 0.9}})
    assert [a["id"] for a in answers] == ["bad"], "refusals answer at once, valid requests wait for the loop"
    assert answers[0]["ok"] is False and answers[0]["error"].startswith("set.min_area:")
    assert p.apply_pending() == 2
    show, refused = answers[1], answers[2]
    assert show["ok"] and show["profile"] is None and "0.7" in show["warnings"][0]
    assert not refused["ok"] and refused["error"] == NO_PROFILE
    for answer in answers:
        errors = list(validator("command-response").iter_errors(answer))
        assert not errors, errors


def test_a_full_queue_answers_busy_at_once() -> None:
    answers: list[dict[str, Any]] = []
    p = processor(answers, maxsize=1)
    p.submit({"id": "a", "action": "show"})
    p.submit({"id": "b", "action": "show"})
    assert [(a["id"], a["ok"]) for a in answers] == [("b", False)] and answers[0]["error"].startswith("busy")
    p.apply_pending()
    assert [a["id"] for a in answers] == ["b", "a"]


def test_the_command_examples_in_the_contract_page_are_valid() -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "mqtt-contract.md"
    examples = re.findall(r"```json (command-request|command-response)\n(.*?)```", page.read_text(encoding="utf-8"),
                          re.S)
    assert [name for name, _ in examples] == ["command-request", "command-response"]
    for name, text in examples:
        errors = list(validator(name).iter_errors(json.loads(text)))
        assert not errors, errors
    parse_request(json.loads(examples[0][1]))
