"""The Sparkplug edge node's counters as the stats message and Prometheus carry them (issue 22): the optional
`sparkplug` object of contract 2 (docs/schemas/stats.schema.json, additive) and the edge_inspector_sparkplug_*
series. The running daemon is tested in tests/integration/test_sparkplug_telemetry.py."""

from __future__ import annotations

from dataclasses import asdict, fields, replace
from typing import Any

import pytest
from contract_schemas import validate_message
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_inspector.publish.contract import encode, stats_payload
from edge_inspector.service.prometheus import sparkplug_families
from edge_inspector.sparkplug.edge_node import EdgeNodeStats

TOPIC = "ei/line1/stats"
STATS = EdgeNodeStats(connected=True, host_online=False, births=3, published=120, acknowledged=118, historical=40,
                      inflight=2, depth=7, reconnects=1, bad_messages=4, bad_entries=0, write_errors=5,
                      memory_depth=1, memory_dropped=0)


def body(**extra: Any) -> dict[str, Any]:
    """A stats body as the monitor builds it (every required key), plus `extra`."""
    latency = {"n": 0, "p50": None, "p99": None, "mean": None, "max": None}
    return {"uptime_s": 1.0, "interval_s": 1.0, "frames": 0, "verdicts": {"PASS": 0, "FAIL": 0, "FAULT": 0},
            "fps": 0.0, "latency_ms": latency, "inference_ms": dict(latency),
            "drops": {"queue_full": 0, "unreadable": 0, "unsupported": 0},
            "capture": {"state": "running", "since": "2024-05-01T12:00:00.000Z", "detail": "d", "read_failures": 0,
                        "reconnects": 0},
            "spool": {"depth": 0, "oldest_age_s": None, "dropped_full": 0, "dropped_age": 0, "write_errors": 0},
            "mqtt": {"connected": True, "reconnects": 0, "published": 0, "acknowledged": 0, "inflight": 0},
            "sink_errors": {"sparkplug": 0}, "evidence": {"written": 0, "skipped_low_disk": 0, "pruned": 0}, **extra}


def test_stats_without_sparkplug_stay_as_they_were() -> None:
    payload = stats_payload("line1", "r1", body())
    assert "sparkplug" not in payload
    validate_message(TOPIC, payload)


def test_the_sparkplug_object_is_in_the_contract_and_in_the_schema() -> None:
    payload = stats_payload("line1", "r1", body(sparkplug=asdict(STATS)))
    assert payload["version"] == 2 and payload["sparkplug"]["write_errors"] == 5
    validate_message(TOPIC, payload)
    encode(payload)


@pytest.mark.parametrize("change", [
    {"births": -1}, {"published": 1.5}, {"connected": 1}, {"inflight": 70000}, {"memory_dropped": "0"},
    {"extra": 1},
])
def test_the_schema_refuses_a_wrong_sparkplug_object(change: dict[str, Any]) -> None:
    obj = {**asdict(STATS), **change}
    with pytest.raises(AssertionError, match="sparkplug"):
        validate_message(TOPIC, stats_payload("line1", "r1", body(sparkplug=obj)))


def test_the_schema_refuses_a_missing_sparkplug_key() -> None:
    obj = asdict(STATS)
    del obj["depth"]
    with pytest.raises(AssertionError, match="depth"):
        validate_message(TOPIC, stats_payload("line1", "r1", body(sparkplug=obj)))


def test_an_unknown_body_key_is_still_refused() -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        stats_payload("line1", "r1", body(opcua={}))


COUNT = st.integers(min_value=0, max_value=2**63 - 1)


@settings(max_examples=150, deadline=None)
@given(st.fixed_dictionaries({f.name: (st.booleans() if f.type == "bool" else COUNT) for f in fields(EdgeNodeStats)
                              if f.name != "inflight"}), st.integers(min_value=0, max_value=65535))
def test_any_counters_the_node_can_report_fit_the_schema_and_prometheus(values: dict[str, Any], inflight: int) -> None:
    stats = EdgeNodeStats(**values, inflight=inflight)
    payload = stats_payload("line1", "r1", body(sparkplug=asdict(stats)))
    validate_message(TOPIC, payload)
    encode(payload)
    assert scraped(stats)["edge_inspector_sparkplug_published_total"] == float(stats.published)


def scraped(stats: EdgeNodeStats) -> dict[str, float]:
    """The series of `stats` through prometheus_client's text format and its own parser."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    class Collector:
        def collect(self) -> Any:
            return sparkplug_families(stats)

    registry = CollectorRegistry()
    registry.register(Collector())
    text = generate_latest(registry).decode()
    return {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples
            if not s.name.endswith("_created")}


def test_prometheus_series_names_and_values() -> None:
    got = scraped(replace(STATS, connected=False, host_online=True))
    assert got == {
        "edge_inspector_sparkplug_births_total": 3.0, "edge_inspector_sparkplug_published_total": 120.0,
        "edge_inspector_sparkplug_acknowledged_total": 118.0, "edge_inspector_sparkplug_historical_total": 40.0,
        "edge_inspector_sparkplug_reconnects_total": 1.0, "edge_inspector_sparkplug_bad_messages_total": 4.0,
        "edge_inspector_sparkplug_bad_entries_total": 0.0, "edge_inspector_sparkplug_write_errors_total": 5.0,
        "edge_inspector_sparkplug_memory_dropped_total": 0.0, "edge_inspector_sparkplug_connected": 0.0,
        "edge_inspector_sparkplug_host_online": 1.0, "edge_inspector_sparkplug_outbox_depth": 7.0,
        "edge_inspector_sparkplug_inflight": 2.0, "edge_inspector_sparkplug_memory_depth": 1.0,
    }
