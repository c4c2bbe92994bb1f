"""The edge node's Sparkplug state: topics, bdSeq, the 0-255 seq, current metric values, and the messages.

Pure (no network, no clock of its own), so the rules are tested without a broker:
- bdSeq (0-255) is the number of this MQTT session; it is in the NDEATH last will set before connecting and in
  the NBIRTH of that session. A new connection takes the next bdSeq; a rebirth on the same one keeps it.
- seq counts every message after NBIRTH, 0-255 and round again: NBIRTH 0, DBIRTH 1, then each DDATA/NDATA.
  NDEATH carries no seq.
- The births carry every metric with its type (null until known); DDATA carries what changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import __version__
from .metrics import (
    BD_SEQ,
    DEVICE_METRICS,
    NODE_METRICS,
    REBIRTH,
    VERDICT_METRICS,
    captured_ms,
    status_values,
    verdict_values,
)
from .payload import Metric, Payload, Value, encode

NAMESPACE = "spBv1.0"
COUNTS = ("Counts/Total", "Counts/Pass", "Counts/Fail", "Counts/Fault")


@dataclass(frozen=True)
class Topics:
    """The node's and its device's Sparkplug topics, and the primary host's STATE topic."""

    nbirth: str
    ndeath: str
    ndata: str
    ncmd: str
    dbirth: str
    ddata: str
    state: str | None

    @classmethod
    def of(cls, group: str, node: str, device: str, host: str | None) -> Topics:
        base = f"{NAMESPACE}/{group}"
        return cls(f"{base}/NBIRTH/{node}", f"{base}/NDEATH/{node}", f"{base}/NDATA/{node}",
                   f"{base}/NCMD/{node}", f"{base}/DBIRTH/{node}/{device}", f"{base}/DDATA/{node}/{device}",
                   None if host is None else f"{NAMESPACE}/STATE/{host}")


class NodeState:
    """One edge node with one device. Not thread-safe: the Sparkplug sender thread owns it."""

    def __init__(self, topics: Topics, station: str, run_id: str, bd_seq: int = 0) -> None:
        self.topics = topics
        self.bd_seq = bd_seq % 256
        self.seq = 0  # the seq the next message takes
        self.births = 0
        self.node_values: dict[str, Value] = dict.fromkeys(NODE_METRICS)
        self.node_values.update({REBIRTH: False, "Properties/Station": station, "Properties/Run ID": run_id,
                                 "Properties/Software": f"edge-inspector {__version__}"})
        self.device_values: dict[str, Value] = dict.fromkeys(DEVICE_METRICS)
        self.device_values.update(dict.fromkeys(COUNTS, 0))

    def _take_seq(self) -> int:
        seq, self.seq = self.seq, (self.seq + 1) % 256
        return seq

    def death(self, now_ms: int, bd_seq: int) -> bytes:
        """The NDEATH payload of the session `bd_seq`: that bdSeq only, no seq."""
        return encode(Payload(now_ms, (Metric(BD_SEQ, NODE_METRICS[BD_SEQ], bd_seq % 256, now_ms),)))

    def birth(self, now_ms: int) -> list[tuple[str, bytes]]:
        """NBIRTH (seq 0, this session's bdSeq) then DBIRTH (seq 1), each with every metric and its type."""
        self.seq = 0
        self.births += 1
        self.node_values[BD_SEQ] = self.bd_seq
        node = tuple(Metric(n, t, self.node_values[n], now_ms) for n, t in NODE_METRICS.items())
        device = tuple(Metric(n, t, self.device_values[n], now_ms) for n, t in DEVICE_METRICS.items())
        return [(self.topics.nbirth, encode(Payload(now_ms, node, self._take_seq()))),
                (self.topics.dbirth, encode(Payload(now_ms, device, self._take_seq())))]

    def verdict_data(self, record: Mapping[str, Any], *, historical: bool, count: bool, now_ms: int) -> bytes:
        """The DDATA of one verdict: its metrics at its capture time. `count`: first time this verdict is sent."""
        values = verdict_values(record)
        if count:
            verdict = values["Inspection/Verdict"]
            self.device_values["Counts/Total"] = int(self.device_values["Counts/Total"] or 0) + 1
            key = {"PASS": "Counts/Pass", "FAIL": "Counts/Fail", "FAULT": "Counts/Fault"}.get(str(verdict))
            if key is not None:
                self.device_values[key] = int(self.device_values[key] or 0) + 1
        values.update({k: self.device_values[k] for k in COUNTS})
        if not historical:  # a held verdict does not overwrite the live values a later birth reports
            self.device_values.update(values)
        ts = captured_ms(record, now_ms)
        metrics = tuple(Metric(n, VERDICT_METRICS[n], values[n], ts, historical) for n in VERDICT_METRICS)
        return encode(Payload(now_ms, metrics, self._take_seq()))

    def status_data(self, extra: Mapping[str, Any], now_ms: int, *, born: bool) -> bytes | None:
        """Take the daemon's status keys; the DDATA of the values that changed (None: nothing to send now)."""
        changed = {k: v for k, v in status_values(extra).items() if self.device_values.get(k) != v}
        self.device_values.update(changed)
        if not changed or not born:
            return None
        metrics = tuple(Metric(n, DEVICE_METRICS[n], v, now_ms) for n, v in changed.items())
        return encode(Payload(now_ms, metrics, self._take_seq()))


def wants_rebirth(metrics: tuple[Metric, ...]) -> bool:
    """An NCMD asks for a rebirth when it carries `Node Control/Rebirth` = true."""
    return any(m.name == REBIRTH and m.value is True for m in metrics)
