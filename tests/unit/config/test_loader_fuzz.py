"""Property tests (hypothesis) for the file doors and the contract encoder (issue 17, "Fuzzing in CI").

The config loader and the profile loader, given any text, any bytes or any nested structure dumped as YAML,
either load or raise their documented error (ConfigError / ProfileError) with one line of at most MAX_ERROR
characters. The verdict encoder, given any Inspection with finite numbers (huge texts, lone surrogates, any
unicode included), returns valid JSON within a size bound whose free-text fields respect the contract's
limits; given a non-finite number it raises ValueError and nothing else.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_inspector.calibration import ProfileError, load_profile
from edge_inspector.config import ConfigError, load_config
from edge_inspector.publish.contract import encode, verdict_payload
from edge_inspector.types import Box, Inspection, Verdict

MAX_ERROR = 1000  # characters of any error message (the cap the fix chose)
FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SCHEMA = json.loads((Path(__file__).parents[3] / "docs" / "schemas" / "verdict.schema.json").read_text())
# The contract's free-text limits, as docs/schemas/verdict.schema.json and docs/mqtt-contract.md state them.
LIMITS = {"frame": 256, "reason": 512, "model_id": 256, "part_id": 128}

SECTIONS = ["station_id", "source", "model", "inspection", "mqtt", "output", "spool", "trigger", "metrics",
            "dashboard", "bogus"]
KEYS = ["kind", "path", "port", "host", "threshold", "username", "password_file", "token_file", "enabled", "dir",
        "fps", "queue_size", "tiling", "morphology", "open", "x" * 300, "1", "thresholds", "image", "warnings"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=60),
                    st.text(alphabet="xy\n\t\"'&*!{}[]:#", max_size=3000))
nested = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                      st.dictionaries(st.sampled_from(KEYS), kids, max_size=4)),
                      max_leaves=20)
yamlish = st.text(alphabet=st.sampled_from(list("ab: -\n\t[]{}&*!|>'\"#%@`,?0.9\\\x00\x85\ufeff\ud800é")),
                  max_size=400)


def _check(message: str) -> None:
    assert "\n" not in message and "\r" not in message, message[:300]
    assert len(message) <= MAX_ERROR, (len(message), message[:300])


def _load_config(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_bytes(data)
        try:
            load_config(path)
        except ConfigError as exc:
            _check(str(exc))


def _load_profile(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.yaml"
        path.write_bytes(data)
        try:
            load_profile(path)
        except ProfileError as exc:
            _check(str(exc))


@FUZZ
@given(yamlish)
def test_config_loader_on_yamlish_text(text: str) -> None:
    _load_config(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.binary(max_size=600))
def test_config_loader_on_random_bytes(data: bytes) -> None:
    _load_config(data)


@FUZZ
@given(st.dictionaries(st.sampled_from(SECTIONS), nested, max_size=6))
def test_config_loader_on_random_structures(data: dict[str, Any]) -> None:
    _load_config(yaml.safe_dump(data, allow_unicode=False).encode())


PROFILE_KEYS = ["schema_version", "product", "station", "revision", "created_at", "author", "reason", "model",
                "policy", "thresholds", "regions", "samples", "expected", "roi", "ignore_mask", "warnings"]


@FUZZ
@given(yamlish)
def test_profile_loader_on_yamlish_text(text: str) -> None:
    _load_profile(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.binary(max_size=600))
def test_profile_loader_on_random_bytes(data: bytes) -> None:
    _load_profile(data)


@FUZZ
@given(st.dictionaries(st.sampled_from(PROFILE_KEYS), nested, max_size=16))
def test_profile_loader_on_random_structures(data: dict[str, Any]) -> None:
    _load_profile(yaml.safe_dump(data, allow_unicode=False).encode())


# --- the contract encoder ------------------------------------------------------------------------------------

texts = st.one_of(st.text(max_size=50), st.text(min_size=1000, max_size=5000),
                  st.text(alphabet=st.sampled_from(["a", "\ud800", "\udcff", "é", "\x00", "\n", "\u2028", "🙂"]),
                          max_size=700))
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)
times = st.floats(min_value=0, max_value=4e9)  # epoch seconds a clock gives, up to the year 2096
boxes = st.builds(Box, x=st.integers(0, 10**6), y=st.integers(0, 10**6), w=st.integers(1, 10**6),
                  h=st.integers(1, 10**6), area=st.integers(0, 10**12), peak=finite)


@st.composite
def inspections(draw: Any, numbers: Any = finite) -> Inspection:
    verdict = draw(st.sampled_from(list(Verdict)))
    score = None if verdict is Verdict.FAULT and draw(st.booleans()) else draw(numbers)  # null only for FAULT
    return Inspection(
        seq=draw(st.integers(0, 2**53)), source_index=draw(st.integers(-1, 2**31)), name=draw(texts),
        captured_at=draw(times), decided_at=draw(times), verdict=verdict, score=score, threshold=draw(numbers),
        boxes=tuple(draw(st.lists(boxes, max_size=20))), reason=draw(texts), latency_ms=abs(draw(finite)),
        model_id=draw(texts), part_id=draw(st.one_of(st.none(), texts)))


@FUZZ
@given(inspections())
def test_the_verdict_encoder_always_gives_valid_bounded_json(inspection: Inspection) -> None:
    data = encode(verdict_payload(inspection, "line1", "20261201T000000Z-ab12"))
    assert len(data) <= 4096 + 128 * len(inspection.boxes)
    payload = json.loads(data.decode("utf-8"))
    for key, limit in LIMITS.items():
        assert payload[key] is None or len(payload[key]) <= limit, key
    jsonschema.validate(payload, SCHEMA)


@FUZZ
@given(inspections(numbers=st.floats(allow_nan=True, allow_infinity=True)))
def test_the_verdict_encoder_refuses_non_finite_numbers_with_value_error(inspection: Inspection) -> None:
    try:
        data = encode(verdict_payload(inspection, "line1", "20261201T000000Z-ab12"))
    except ValueError as exc:
        assert "expected" in str(exc) or "JSON" in str(exc) or "Out of range" in str(exc), str(exc)
        return
    assert all(math.isfinite(v) for v in (inspection.threshold, inspection.score or 0.0))
    json.loads(data)


def _one(**kw: Any) -> Inspection:
    fields: dict[str, Any] = dict(seq=0, source_index=0, name="f.png", captured_at=1.0e9, decided_at=1.0e9,
                                  verdict=Verdict.PASS, score=0.1, threshold=0.5)
    return Inspection(**{**fields, **kw})


def test_a_name_that_was_not_utf8_is_escaped_not_fatal() -> None:
    import os

    name = os.fsdecode(b"part-\xff.png")  # how os.listdir hands over a file name that is not UTF-8
    payload = json.loads(encode(verdict_payload(_one(name=name), "line1", "r1")))
    assert payload["frame"] == "part-\\udcff.png"


def test_long_free_text_is_cut_with_a_marker() -> None:
    payload = verdict_payload(_one(name="n" * 10_000, reason="r" * 10_000, model_id="m" * 10_000,
                                   part_id="p" * 10_000), "line1", "r1")
    for key, limit in LIMITS.items():
        assert len(payload[key]) == limit and payload[key].endswith("...[cut]"), key
    jsonschema.validate(json.loads(encode(payload)), SCHEMA)
