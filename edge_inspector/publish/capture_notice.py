"""The capture notice: one small message on `{prefix}/{station}/captured` per frame the daemon numbers, sent the
moment the frame is numbered, before it is judged (`mqtt.announce_captures`, docs/mqtt-contract.md).

It tells a reject bridge that a part exists before its verdict does: with `parts.announce: captures` the bridge
plans a pulse at `captured_ts + delay` for every notice and a PASS cancels it, so a part whose verdict is late,
lost or never computed (the scorer hung, the daemon died mid-part) is rejected, not let through. QoS 1, never
retained, never spooled: a notice is worth something only until its part reaches the ejector.

Both sides live here: the daemon's payload and every subscriber's reader (size before decoding, each field
checked; message_fields.MessageError with a kind otherwise).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .message_fields import MessageError, decode, header, integer, number

SCHEMA = "edge-inspector/captured"
VERSION = 2  # contract 2: a new topic, nothing of the existing ones changes


@dataclass(frozen=True)
class CaptureNotice:
    """One numbered frame: the verdict that will follow has the same (station, run_id, seq) and captured_ts."""

    station: str
    run_id: str
    seq: int
    captured_ts: float

    @property
    def key(self) -> tuple[str, str, int]:
        """The contract's de-duplication key, the verdict's."""
        return (self.station, self.run_id, self.seq)


def capture_payload(station: str, run_id: str, seq: int, captured_ts: float) -> bytes:
    """The notice's JSON bytes (compact: about 120 bytes per frame)."""
    return json.dumps({"schema": SCHEMA, "version": VERSION, "station": station, "run_id": run_id, "seq": int(seq),
                       "captured_ts": round(float(captured_ts), 6)}, separators=(",", ":")).encode("utf-8")


def read_capture(payload: bytes, station: str, limit: int = 4096) -> CaptureNotice:
    """The checked notice in one message of `station`; MessageError (oversize, json, schema, station, type)."""
    d = decode(payload, limit)
    run_id = header(d, SCHEMA, station)
    seq = integer(d, "seq")
    captured_ts = number(d, "captured_ts")
    if captured_ts <= 0:
        raise MessageError("type", f"captured_ts: expected epoch seconds > 0, got {captured_ts}")
    return CaptureNotice(station, run_id, seq, captured_ts)
