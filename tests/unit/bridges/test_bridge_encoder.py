"""Encoder mode's belt position: the counter unwrapped across its wrap (property tests against a true position the
test keeps itself), the position ring's interpolation and its refusals (before the history, across a hole, a stale
encoder), and the Modbus reader against pymodbus's own server (16 and 32 bit, both word orders, unreachable)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_inspector.bridges.config import Encoder
from edge_inspector.bridges.encoder import EncoderError, PositionRing, combine, signed_delta


@settings(max_examples=200, deadline=None)
@given(bits=st.sampled_from([16, 32]), start=st.integers(0, 2**32 - 1), data=st.data())
def test_signed_delta_is_the_movement_across_any_wrap(bits: int, start: int, data: st.DataObject) -> None:
    half = 1 << (bits - 1)
    move = data.draw(st.integers(-half, half - 1))
    raw0 = start % (1 << bits)
    assert signed_delta(raw0, (raw0 + move) % (1 << bits), bits) == move


@settings(max_examples=150, deadline=None)
@given(bits=st.sampled_from([16, 32]), start=st.integers(0, 2**32 - 1),
       moves=st.lists(st.integers(-30_000, 30_000), min_size=1, max_size=60))
def test_the_ring_tracks_the_true_position_through_wraps(bits: int, start: int, moves: list[int]) -> None:
    ring = PositionRing(bits, stale_s=10.0, max_samples=1000)
    raw, true, t = start % (1 << bits), start % (1 << bits), 1000.0
    ring.add(t, raw)
    samples = [(t, true)]
    for m in moves:
        t += 0.002
        true += m
        raw = (raw + m) % (1 << bits)
        pos, joined = ring.add(t, raw)
        assert (pos, joined) == (true, True)
        samples.append((t, true))
    for (t0, p0), (t1, p1) in zip(samples, samples[1:]):
        assert ring.at(t0, now=t) == pytest.approx(p0)
        mid = ring.at((t0 + t1) / 2, now=t)  # halfway in time: halfway along the belt
        assert mid == pytest.approx((p0 + p1) / 2)


@pytest.mark.parametrize(("words", "bits", "order", "value"), [
    ([0x1234], 16, "big", 0x1234),
    ([0x0001, 0x0002], 32, "big", 0x00010002),  # high word first
    ([0x0001, 0x0002], 32, "little", 0x00020001),  # low word first
    ([0xFFFF, 0xFFFF], 32, "big", 2**32 - 1),
])
def test_words_make_the_counter_in_the_configured_order(words: list[int], bits: int, order: str, value: int) -> None:
    assert combine(words, bits, order) == value


def test_a_capture_outside_the_history_or_in_a_hole_has_no_position() -> None:
    ring = PositionRing(16, stale_s=0.1, max_samples=100)
    ring.add(100.0, 10)
    ring.add(100.05, 20)
    ring.add(100.5, 70)  # 0.45 s after the last good read: reads failed in between
    assert ring.at(99.9, now=100.5) is None  # before the oldest sample
    assert ring.at(100.025, now=100.5) == pytest.approx(15.0)
    assert ring.at(100.3, now=100.5) is None  # inside the hole: the belt's motion there is unknown
    assert ring.at(100.55, now=100.56) == 70.0  # a notice a little ahead of the next poll: the newest position
    assert ring.at(100.55, now=100.7) is None and ring.here(100.7) is None  # the encoder went quiet: stale
    assert ring.here(100.55) == 70


def test_a_stopped_belt_does_not_fill_the_ring() -> None:
    ring = PositionRing(32, stale_s=0.1, max_samples=50)
    ring.add(0.0, 5)
    for i in range(2000):  # 2000 polls, 2 ms apart, all at 7: two samples hold the whole stop
        ring.add(0.01 + i * 0.002, 7)
    assert len(ring) == 3
    assert ring.at(0.005, now=4.0) == pytest.approx(6.0)  # the history from before the stop is still there
    assert ring.at(2.0, now=4.0) == 7.0
    ring.add(4.0, 9)
    assert ring.at(3.999, now=4.0) == pytest.approx(7.0, abs=0.01)


# ---- the reader against pymodbus's own server ----------------------------------------------------------------------
def _sim(tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from edge_inspector.publish.broker import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "edge_inspector.bridges.modbus_sim", str(port),
                             str(tmp_path / "w.jsonl"), *args], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("simulator did not start")


@pytest.mark.skipif(not os.environ.get("CI") and __import__("importlib").util.find_spec("pymodbus") is None,
                    reason="needs pip install .[bridge]")
def test_the_modbus_reader_reads_16_and_32_bit_counters_in_both_word_orders(tmp_path: Path) -> None:
    from edge_inspector.bridges.encoder import ModbusEncoder

    proc, port = _sim(tmp_path, "--encoder-bits", "32", "--encoder-start", str(0x0001_FFFE), "--reads-per-step",
                      "1", "--speed", "3")
    try:
        big = ModbusEncoder(Encoder(host="127.0.0.1", port=port, address=0, counts_to_ejector=1, timeout_s=1.0))
        # the simulator steps 3 counts before each read: 0x1FFFE + 3 = 0x20001, across the low word's wrap
        assert big.read() == 0x0002_0001
        little = ModbusEncoder(Encoder(host="127.0.0.1", port=port, table="holding", address=8, word_order="little",
                                       counts_to_ejector=1, timeout_s=1.0))
        assert little.read() == 0x0002_0004
        big.close()
        little.close()
    finally:
        proc.kill()
        proc.wait()
    proc, port = _sim(tmp_path, "--encoder-bits", "16", "--encoder-start", "65535", "--reads-per-step", "1",
                      "--speed", "2")
    try:
        short = ModbusEncoder(Encoder(host="127.0.0.1", port=port, bits=16, address=0, counts_to_ejector=1,
                                     timeout_s=1.0))
        assert [short.read(), short.read()] == [1, 3]
        short.close()
    finally:
        proc.kill()
        proc.wait()
    with pytest.raises(EncoderError, match=f"127.0.0.1:{port}"):  # nobody listens there any more
        ModbusEncoder(Encoder(host="127.0.0.1", port=port, bits=16, address=0, counts_to_ejector=1,
                              timeout_s=0.2)).read()
