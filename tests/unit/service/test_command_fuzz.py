"""Property tests (hypothesis) for the two MQTT doors' parsers: whatever arrives, the command parser and the
trigger parser either return values within their limits or refuse with their own error, one capped line."""

from __future__ import annotations

import json
import math
from typing import Any

from contract_schemas import validator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_inspector.config import InspectionConfig
from edge_inspector.service.command_request import AREA_MAX, AUTHOR_MAX, COORD_MAX, ID_MAX, REASON_MAX
from edge_inspector.service.commands import ACTIONS, SET_KEYS, CommandError, CommandProcessor, parse_request
from edge_inspector.service.profile_settings import InspectionSettings
from edge_inspector.service.triggers import PART_ID_MAX, TriggerError, TriggerMatcher, parse_trigger

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ERROR_LIMIT = 400

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-10**60, max_value=10**60),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
                    st.text(min_size=120, max_size=700), st.sampled_from(ACTIONS))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)
keys = st.sampled_from(["id", "action", "author", "reason", "set", "revision", "ts", "force", "colour"])
set_objects = st.dictionaries(st.sampled_from([*SET_KEYS, "threshold"]), st.one_of(
    values, st.lists(st.integers(min_value=-5, max_value=10**6), min_size=4, max_size=4)), max_size=5)
set_values = st.one_of(st.floats(), st.integers(min_value=-10, max_value=2 * AREA_MAX), st.none(),
                       st.lists(st.integers(min_value=-2, max_value=70_000), min_size=3, max_size=5))
near_valid = st.fixed_dictionaries(  # mostly well-formed: the accepted side gets exercised too
    {"id": st.text(min_size=1, max_size=ID_MAX + 4), "action": st.sampled_from(ACTIONS)},
    optional={"author": st.text(min_size=1, max_size=AUTHOR_MAX + 4),
              "reason": st.text(min_size=1, max_size=REASON_MAX + 4),
              "set": st.dictionaries(st.sampled_from(list(SET_KEYS)), set_values, min_size=1, max_size=5),
              "revision": st.integers(min_value=-1, max_value=10**6), "ts": st.floats(), "force": st.booleans()})
labels = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30).filter(str.strip)
changes = st.dictionaries(st.sampled_from(list(SET_KEYS)), st.one_of(
    st.floats(min_value=0, max_value=5), st.integers(min_value=0, max_value=5000),
    st.lists(st.integers(min_value=0, max_value=400), min_size=4, max_size=4)), min_size=1, max_size=5)
well_formed = st.one_of(  # valid apart from the values: each action in its own shape
    st.fixed_dictionaries({"id": labels, "action": st.sampled_from(["show", "history"])},
                          optional={"ts": st.floats(min_value=0, max_value=4e9)}),
    st.fixed_dictionaries({"id": labels, "action": st.sampled_from(["set", "what-if"]), "author": labels,
                           "reason": labels, "set": changes}, optional={"force": st.booleans()}),
    st.fixed_dictionaries({"id": labels, "action": st.just("rollback"), "author": labels, "reason": labels,
                           "revision": st.integers(min_value=1, max_value=10**9)}))
requests = st.one_of(values, st.dictionaries(keys, st.one_of(values, set_objects), max_size=8), near_valid,
                     well_formed)


def within_limits(changes: dict[str, Any]) -> bool:
    for key, value in changes.items():
        if key in ("image_threshold", "pixel_threshold", "min_peak") and not math.isfinite(value):
            return False
        if key == "min_area" and not 0 <= value <= AREA_MAX:
            return False
        if key == "roi" and value is not None and not (
                value[0] + value[2] <= COORD_MAX and value[1] + value[3] <= COORD_MAX and min(value) >= 0):
            return False
    return True


@FUZZ
@given(requests)
def test_parse_request_returns_a_bounded_request_or_refuses_in_one_capped_line(data: Any) -> None:
    try:
        req = parse_request(data)
    except CommandError as exc:
        text = str(exc)
        assert text and len(text) <= ERROR_LIMIT and "\n" not in text, text[:2000]
        return
    assert 1 <= len(req.id) <= ID_MAX and req.action in ACTIONS
    assert req.author is None or 1 <= len(req.author) <= AUTHOR_MAX
    assert req.reason is None or 1 <= len(req.reason) <= REASON_MAX
    assert set(req.changes) <= set(SET_KEYS) and within_limits(req.changes)
    errors = list(validator("command-request").iter_errors(data))  # what the daemon takes, the schema allows
    assert not errors, errors


class Holder:
    def __init__(self) -> None:
        self.settings = InspectionSettings(0.7, 0.6, InspectionConfig())

    def use_settings(self, settings: InspectionSettings) -> None:
        self.settings = settings


@FUZZ
@given(st.one_of(st.binary(max_size=300), requests.map(lambda d: json.dumps(d).encode())))
def test_the_command_door_never_raises_and_every_answer_is_capped_and_fits_the_schema(payload: bytes) -> None:
    answers: list[dict[str, Any]] = []
    p = CommandProcessor(Holder(), InspectionConfig(), "st1", "run-1", reply=answers.append)
    p.submit_json(payload)
    p.apply_pending()
    for answer in answers:
        assert answer["id"] is not None and len(answer["id"]) <= ID_MAX
        assert answer["error"] is None or len(answer["error"]) <= ERROR_LIMIT
        assert not list(validator("command-response").iter_errors(answer))


triggers = st.one_of(
    st.binary(max_size=300), values.map(lambda d: json.dumps(d).encode()),
    st.fixed_dictionaries({"part_id": values}, optional={"ts": values}).map(lambda d: json.dumps(d).encode()),
    st.fixed_dictionaries({"part_id": st.text(max_size=200)},
                          optional={"ts": st.floats()}).map(lambda d: json.dumps(d).encode()))


@FUZZ
@given(triggers)
def test_parse_trigger_returns_a_bounded_part_id_or_refuses_in_one_capped_line(payload: bytes) -> None:
    try:
        part_id, ts = parse_trigger(payload)
    except TriggerError as exc:
        assert len(str(exc)) <= ERROR_LIMIT and "\n" not in str(exc), str(exc)[:2000]
        m = TriggerMatcher(window_s=0.5)
        m.on_trigger_json(payload)  # the door: counted, never raised
        assert (m.refused, m.received) == (1, 0)
        return
    assert isinstance(part_id, str) and 1 <= len(part_id) <= PART_ID_MAX
    assert ts is None or math.isfinite(ts)
