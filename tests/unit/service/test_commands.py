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
    page = Path(__file__).resolve().parents[3] / "docs" / "mqtt-contract.md"
    examples = re.findall(r"```json (command-request|command-response)\n(.*?)```", page.read_text(encoding="utf-8"),
                          re.S)
    assert [name for name, _ in examples] == ["command-request", "command-response"]
    for name, text in examples:
        errors = list(validator(name).iter_errors(json.loads(text)))
        assert not errors, errors
    parse_request(json.loads(examples[0][1]))


# --- bounded fields, fresh and idempotent requests, sane limits (issue 17, items 2, 3 and 7) -------------------

def make_profile() -> Any:
    from edge_inspector.calibration import Profile

    return Profile(product="plate", station="s1", author="ana", reason="calibrated",
                   model={"model_id": "m-1", "fingerprint": "abcd:fp32"},
                   policy={"name": "target-false-reject", "params": {"target": 0.005, "confidence": 0.95}},
                   thresholds={"image": 0.6, "pixel": 0.5}, regions={"min_area": 4, "min_peak": 0.5},
                   samples={"good": 20, "defect": 0},
                   expected={"false_reject_rate": 0.0, "false_reject_upper": 0.14, "escape_rate": None,
                             "escape_upper": None})


class ProfileHolder(Holder):
    """The daemon with a calibration profile in force, saved under `root` as the daemon keeps it."""

    def __init__(self, root: Path) -> None:
        from edge_inspector.calibration import load_profile, save_profile
        from edge_inspector.service.profile_settings import settings_from_profile

        self.path = save_profile(make_profile(), root)
        self.settings = settings_from_profile(InspectionConfig(), load_profile(self.path), self.path)


def profiled(tmp_path: Path, answers: list[dict[str, Any]], audit: list[dict[str, Any]] | None = None,
             **kw: Any) -> CommandProcessor:
    return CommandProcessor(ProfileHolder(tmp_path / "cal"), InspectionConfig(), "st1", "run-1", reply=answers.append,
                            audit=None if audit is None else audit.append, **kw)


def revisions(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "cal" / "plate" / "history").iterdir())


@pytest.mark.parametrize(("request_", "names"), [
    ({**SET, "author": "a" * 65, "set": {"image_threshold": 0.5}}, "author"),
    ({**SET, "reason": "r" * 501, "set": {"image_threshold": 0.5}}, "reason"),
    ({**SET, "author": "bo\nERROR forged log line", "set": {"image_threshold": 0.5}}, "author"),
    ({"id": "r1\n", "action": "show"}, "id"),
    ({"id": "x" * 129, "action": "show"}, "id"),
    ({**SET, "set": {"min_area": 10**40}}, "set.min_area"),
    ({**SET, "set": {"roi": [10**30, 10**30, 1, 1]}}, "set.roi"),
    ({**SET, "set": {"roi": [65535, 0, 1, 1]}}, "set.roi"),
    ({**SET, "set": {"image_threshold": 0.5}, "ts": "now"}, "ts"),
    ({**SET, "set": {"image_threshold": 0.5}, "force": "yes"}, "force"),
    ({"id": "r1", "action": "show", "force": True}, "force"),
])
def test_every_free_text_and_integer_field_is_bounded(request_: dict[str, Any], names: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_request(request_)
    assert str(info.value).startswith(f"{names}:"), str(info.value)


@pytest.mark.parametrize("field", ["id", "author", "reason", "colour", "set_key", "value"])
def test_a_100_kb_value_is_refused_with_a_capped_echo_and_a_capped_log(field: str,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    big = "A" * 100_000
    request_: dict[str, Any] = {**SET, "set": {"image_threshold": 0.5}}
    if field in ("id", "author", "reason"):
        request_[field] = big
    elif field == "colour":
        request_[big] = 1
    elif field == "set_key":
        request_["set"] = {big: 1}
    else:
        request_["set"] = {"image_threshold": big}
    answers: list[dict[str, Any]] = []
    p = processor(answers)
    with caplog.at_level("WARNING"):
        p.submit_json(json.dumps(request_).encode())
    assert p.refused == 1 and p.apply_pending() == 0
    if field == "id":  # no readable id: nothing to answer, and the whole id is not quoted back either
        assert answers == []
    else:
        assert len(answers) == 1 and not answers[0]["ok"] and answers[0]["id"] == "r1"
        assert len(answers[0]["error"]) <= 400, len(answers[0]["error"])
    assert caplog.records and all(len(r.getMessage()) < 1000 for r in caplog.records)


def test_payloads_json_cannot_parse_cheaply_are_refused_without_an_exception() -> None:
    answers: list[dict[str, Any]] = []
    p = processor(answers)
    p.submit_json(b"[" * 50_000 + b"]" * 50_000)  # deeper than the JSON parser's recursion limit
    p.submit_json(b'{"id": "r1", "action": "show", "revision": ' + b"9" * 5000 + b"}")  # int digits limit
    p.submit_json(b"\xff\xfe")
    assert p.refused == 3 and answers == []


def test_the_same_set_delivered_twice_makes_one_revision_and_the_duplicate_is_answered(tmp_path: Path) -> None:
    answers: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []
    p = profiled(tmp_path, answers, audit)
    message = json.dumps({**SET, "id": "dup-1", "set": {"image_threshold": 0.7}}).encode()
    p.submit_json(message)
    p.submit_json(message)  # still queued: already a duplicate
    assert p.apply_pending() == 1
    p.submit_json(message)  # carried out: a duplicate of a done change
    assert p.apply_pending() == 0
    assert revisions(tmp_path) == ["s1.r0001.yaml", "s1.r0002.yaml"]
    assert [(a["id"], a["ok"]) for a in answers] == [("dup-1", False), ("dup-1", True), ("dup-1", False)]
    assert answers[0]["error"].startswith("duplicate:") and "not carried out yet" in answers[0]["error"]
    assert answers[2]["error"].startswith("duplicate:") and "profile r2" in answers[2]["error"]
    assert p.duplicates == 2 and len(audit) == 1
    for answer in answers:
        assert not list(validator("command-response").iter_errors(answer))


def test_a_refused_change_forgets_its_id_and_ids_are_remembered_within_a_bound(tmp_path: Path) -> None:
    answers: list[dict[str, Any]] = []
    p = profiled(tmp_path, answers, remember=3)
    p.submit({**SET, "id": "big", "set": {"image_threshold": 1e308}})
    p.apply_pending()
    p.submit({**SET, "id": "big", "set": {"image_threshold": 0.65}})  # corrected, same id: carried out
    p.apply_pending()
    assert [a["ok"] for a in answers] == [False, True] and revisions(tmp_path)[-1] == "s1.r0002.yaml"
    for i in range(5):
        p.submit({"id": f"r{i}", "action": "rollback", "revision": 1, "author": "a", "reason": "b"})
        p.apply_pending()
    assert len(p.recent) == 3


def test_a_request_older_than_the_max_age_is_refused_as_stale() -> None:
    import time

    answers: list[dict[str, Any]] = []
    p = processor(answers)
    p.submit({"id": "old", "action": "show", "ts": time.time() - 120})
    p.submit({"id": "ahead", "action": "show", "ts": time.time() + 120})
    p.submit({"id": "fresh", "action": "show", "ts": time.time() - 5})
    p.apply_pending()
    assert [(a["id"], a["ok"]) for a in answers] == [("old", False), ("ahead", False), ("fresh", True)]
    assert answers[0]["error"].startswith("stale:") and answers[1]["error"].startswith("ts:")
    off = CommandProcessor(Holder(), InspectionConfig(), "st1", "run-1", reply=answers.append, max_age_s=0)
    off.submit({"id": "old2", "action": "show", "ts": 0})
    off.apply_pending()
    assert answers[-1]["ok"]


@pytest.mark.parametrize("changes", [{"image_threshold": 1e308}, {"pixel_threshold": -1e308},
                                     {"image_threshold": 45}, {"min_peak": 1e308}, {"image_threshold": -0.1}])
def test_numbers_outside_the_calibrated_range_are_refused_and_save_nothing(tmp_path: Path,
                                                                          changes: dict[str, Any]) -> None:
    answers: list[dict[str, Any]] = []
    p = profiled(tmp_path, answers)
    p.submit({**SET, "set": changes})
    p.apply_pending()
    key = next(iter(changes))
    assert not answers[0]["ok"] and answers[0]["error"].startswith(f"set.{key}:"), answers[0]
    assert "outside the calibrated range [0, 2.4]" in answers[0]["error"] and "force" in answers[0]["error"]
    assert revisions(tmp_path) == ["s1.r0001.yaml"] and p.holder.settings.threshold == 0.6


def test_force_applies_an_out_of_range_number_and_the_audit_and_profile_say_so(tmp_path: Path) -> None:
    from edge_inspector.calibration import load_profile

    answers: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []
    p = profiled(tmp_path, answers, audit)
    p.submit({**SET, "set": {"image_threshold": 1e308}, "force": True})
    p.apply_pending()
    assert answers[0]["ok"] and answers[0]["profile"]["image_threshold"] == 1e308
    assert any("forced" in w for w in answers[0]["warnings"])
    assert audit[0]["request"]["force"] is True and audit[0]["ok"]
    saved = load_profile(tmp_path / "cal" / "plate" / "s1.yaml")
    assert saved.policy["params"]["forced"] is True
    assert saved.policy["params"]["calibrated"] == {"revision": 1, "image": 0.6, "pixel": 0.5}


def test_the_range_stays_that_of_the_calibration_after_changes(tmp_path: Path) -> None:
    answers: list[dict[str, Any]] = []
    p = profiled(tmp_path, answers)
    p.submit({**SET, "id": "a", "set": {"image_threshold": 2.0}})  # within 4 x 0.6
    p.apply_pending()
    p.submit({**SET, "id": "b", "set": {"image_threshold": 7.9}})  # within 4 x 2.0, not 4 x 0.6
    p.apply_pending()
    assert [a["ok"] for a in answers] == [True, False] and "[0, 2.4]" in answers[1]["error"]


def test_roi_and_min_area_must_fit_the_frame_and_what_if_applies_the_same_limits(tmp_path: Path) -> None:
    import numpy as np

    from edge_inspector.service.what_if import InspectionMemory
    from edge_inspector.types import Verdict

    memory = InspectionMemory(frames=4, max_bytes=10**6)
    memory.add(0, "f0", 0.3, Verdict.PASS, np.zeros((48, 64), np.float32))
    answers: list[dict[str, Any]] = []
    p = profiled(tmp_path, answers, memory=memory)
    for changes, error in (({"roi": [60, 0, 10, 10]}, "set.roi: [60, 0, 10, 10] does not lie inside the 64x48"),
                           ({"min_area": 48 * 64 + 1}, "set.min_area: 3073 is more than the frame's 64x48"),
                           ({"image_threshold": 1e308}, "set.image_threshold: 1e+308 is outside")):
        p.submit({**SET, "id": f"s-{len(answers)}", "set": changes})
        p.apply_pending()
        assert not answers[-1]["ok"] and answers[-1]["error"].startswith(error), answers[-1]["error"]
        p.submit({"id": f"w-{len(answers)}", "action": "what-if", "set": changes})
        assert not answers[-1]["ok"] and answers[-1]["error"].startswith(error), answers[-1]["error"]
        with pytest.raises(CommandError, match=error.split(":")[0]):
            p.what_if(changes)
    p.submit({"id": "w-forced", "action": "what-if", "set": {"image_threshold": 1e308}, "force": True})
    assert answers[-1]["ok"] and answers[-1]["what_if"]["after"] == {"PASS": 1, "FAIL": 0}
    p.submit({**SET, "id": "fits", "set": {"roi": [0, 0, 64, 48], "min_area": 48 * 64}})
    p.apply_pending()
    assert answers[-1]["ok"] and revisions(tmp_path)[-1] == "s1.r0002.yaml"


def test_history_is_answered_on_the_callers_thread_without_waiting_for_the_line(tmp_path: Path) -> None:
    """A read never runs between two frames: `history` is answered at once from the cached reader (before,
    it queued for the inspection thread, which parsed every revision file: 1.35 s with 1,000 revisions)."""
    answers: list[dict[str, Any]] = []
    p = profiled(tmp_path, answers)
    p.submit({**SET, "id": "c1", "set": {"image_threshold": 0.7}})
    assert p.apply_pending() == 1
    p.submit({"id": "h1", "action": "history"})
    assert [a["id"] for a in answers] == ["c1", "h1"], "answered without apply_pending()"
    assert p.apply_pending() == 0
    history = answers[1]["history"]
    assert [h["revision"] for h in history] == [1, 2] and history[1]["image_threshold"] == 0.7
    assert not list(validator("command-response").iter_errors(answers[1]))
