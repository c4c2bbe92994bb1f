"""Pure parts of the server: the OPC 40100-1 vision state derived from the station's status, and the bounded
de-duplication of verdicts by the contract's key (station, run_id, seq)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from .messages import Status

# StateNumber values of VisionStateMachineType's top-level states (OPC 40100-1, 8.2.6, Table 82)
PREOPERATIONAL, HALTED, ERROR, OPERATIONAL = 1, 2, 3, 4
STATE_NAMES = {PREOPERATIONAL: "Preoperational", HALTED: "Halted", ERROR: "Error", OPERATIONAL: "Operational"}
WORKING = ("running", "idle")  # capture states in which the station judges parts (contract: reject actuator)
STARTING = ("starting",)


@dataclass(frozen=True)
class VisionState:
    """The vision state machine's current state, with the sentence that explains it."""

    number: int
    reason: str

    @property
    def name(self) -> str:
        return STATE_NAMES[self.number]


def vision_state(status: Status | None, broker_connected: bool) -> VisionState:
    """Map the latest status (None: none received yet) to a vision state.

    Operational only while the daemon is online and its camera delivers (running, or idle between triggered
    parts); Preoperational while it starts; Halted after a clean shutdown; Error for everything a PLC must
    treat as "no verdicts": a killed daemon (the last will), a stalled, reconnecting, failed or ended camera,
    a failed scorer, and an unknown station state because this server has lost the broker.
    """
    if not broker_connected:
        return VisionState(ERROR, "the OPC UA server has lost the MQTT broker: the station's state is unknown")
    if status is None:
        return VisionState(PREOPERATIONAL, "no status from the station yet")
    if status.state == "offline":
        why = f": {status.reason}" if status.reason else ""
        if status.clean:
            return VisionState(HALTED, f"the station shut down{why}")
        return VisionState(ERROR, f"the station is offline without a clean shutdown (last will){why}")
    if status.scorer_failed:
        return VisionState(ERROR, "the station's scorer failed")
    capture = status.capture_state
    detail = f" ({status.capture_detail})" if status.capture_detail else ""
    if capture is None or capture in WORKING:
        return VisionState(OPERATIONAL, f"online, capture {capture or 'state not reported'}{detail}")
    if capture in STARTING:
        return VisionState(PREOPERATIONAL, f"online, capture starting{detail}")
    return VisionState(ERROR, f"online, capture {capture}{detail}")


class Dedup:
    """Remembers the last `window` verdict keys; `fresh(key)` is True the first time a key is seen.

    The contract delivers at least once: a message in flight at a reconnect arrives twice. Bounded, so a
    server that runs for months holds a fixed number of keys (the oldest are forgotten first).
    """

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError(f"Dedup.window: expected at least 1, got {window}")
        self.window = window
        self._seen: OrderedDict[tuple[str, str, int], None] = OrderedDict()
        self.duplicates = 0

    def fresh(self, key: tuple[str, str, int]) -> bool:
        if key in self._seen:
            self.duplicates += 1
            return False
        self._seen[key] = None
        if len(self._seen) > self.window:
            self._seen.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._seen)
