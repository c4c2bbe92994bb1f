"""The node's two doors: STATE (primary host) and NCMD (rebirth), size-limited before parsing, bad ones counted."""

from __future__ import annotations

import contextlib
import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_inspector.sparkplug.inbound import (
    BadMessages,
    HostState,
    HostTracker,
    InboundError,
    parse_ncmd,
    parse_state,
)
from edge_inspector.sparkplug.payload import BOOLEAN, Metric, Payload, encode


def _state(online: object, ts: object = 1000) -> bytes:
    return json.dumps({"online": online, "timestamp": ts}).encode()


def test_state_online_offline_and_cleared() -> None:
    assert parse_state(_state(True)) == HostState(True, 1000)
    assert parse_state(_state(False, 5)) == HostState(False, 5)
    assert parse_state(b"") is None


@pytest.mark.parametrize("raw", [b"not json", b"[1]", _state("yes"), _state(True, -1), _state(True, 1.5),
                                 _state(True, True), b"\xff\xfe", b"[" * 5000 + b"]" * 5000])
def test_bad_state_is_an_inbound_error(raw: bytes) -> None:
    with pytest.raises(InboundError):
        parse_state(raw, max_bytes=20000)


def test_oversized_state_refused_before_parsing() -> None:
    with pytest.raises(InboundError, match="more than 4096") as info:
        parse_state(b'{"online": true, "pad": "' + b"x" * 5000 + b'"}')
    assert info.value.kind == "oversize"


def test_host_tracker_rules() -> None:
    host = HostTracker()
    assert not host.online  # unknown counts as offline: nothing is published
    assert host.take(HostState(True, 100)) and host.online
    assert not host.take(HostState(False, 50)) and host.online and host.stale == 1  # an older STATE is stale
    assert host.take(HostState(False, 200)) and not host.online
    assert host.take(HostState(True, 300)) and host.online
    assert host.take(None) and not host.online  # cleared STATE: unknown again


def test_ncmd_rebirth() -> None:
    yes = encode(Payload(1, (Metric("Node Control/Rebirth", BOOLEAN, True),)))
    no = encode(Payload(1, (Metric("Node Control/Rebirth", BOOLEAN, False),)))
    other = encode(Payload(1, (Metric("Something", BOOLEAN, True),)))
    assert parse_ncmd(yes) and not parse_ncmd(no) and not parse_ncmd(other)


def test_oversized_and_bad_ncmd() -> None:
    big = encode(Payload(1, (Metric("Node Control/Rebirth", BOOLEAN, True),) * 10000))
    with pytest.raises(InboundError, match="more than 65536") as info:
        parse_ncmd(big)
    assert info.value.kind == "oversize"
    with pytest.raises(InboundError) as bad:
        parse_ncmd(b"\x12\x05ab")
    assert bad.value.kind == "bad_ncmd"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_doors_only_raise_inbound_error(raw: bytes) -> None:
    for parse in (parse_ncmd, parse_state):
        with contextlib.suppress(InboundError):
            parse(raw)


def test_bad_messages_counted_and_logged_capped(caplog: pytest.LogCaptureFixture) -> None:
    bad = BadMessages()
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            bad.count("spBv1.0/STATE/" + "h" * 5000, InboundError("bad_state", "x" * 10000))
    assert bad.counts["bad_state"] == 5
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and len(lines[0]) < 600  # one warning a minute per kind, capped
