"""What the reject bridge takes from a verdict (triggers reuse the daemon's parser). The message itself is read
by the one contract-2 reader every subscriber shares (publish/verdict_reader.py: size before decoding, every
field's type and length); this module keeps only the few fields the bridge plans with."""

from __future__ import annotations

from dataclasses import dataclass

from ..publish.message_fields import MessageError, check_size
from ..publish.verdict_reader import VERDICTS, read_verdict

__all__ = ["VERDICTS", "MessageError", "Verdict", "check_size", "parse_verdict"]


@dataclass(frozen=True)
class Verdict:
    """The fields of a contract-2 verdict the bridge acts on."""

    station: str
    run_id: str
    seq: int
    captured_ts: float
    verdict: str
    replayed: bool
    part_id: str | None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.station, self.run_id, self.seq)

    @property
    def rejects(self) -> bool:
        return self.verdict in ("FAIL", "FAULT")  # FAULT fails closed (docs/mqtt-contract.md)


def parse_verdict(payload: bytes, station: str, limit: int = 65536) -> Verdict:
    """A Verdict from one message on `{prefix}/{station}/verdict`; MessageError for anything else."""
    v = read_verdict(payload, station, limit)
    return Verdict(station=v.station, run_id=v.run_id, seq=v.seq, captured_ts=v.captured_ts, verdict=v.verdict,
                   replayed=v.replayed, part_id=v.part_id)
