"""What the sender has in flight and what the broker acknowledged: the settle/acknowledge bookkeeping.

A verdict counts as sent only when every message it needs (the verdict and, for FAIL/FAULT, the reject
copy) was accepted by the client and acknowledged: the ledger counts the messages each verdict still waits
for and settles it when the last one is acknowledged. Not thread-safe on its own: the sender calls it under
its lock. SenderStats is the snapshot of these counters the daemon reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from .spool import SpoolEntry


@dataclass(frozen=True)
class SenderStats:
    """Counters since start; depth counts the spool plus the memory fallback."""

    connected: bool
    reconnects: int
    published: int  # verdict messages handed to the broker connection (replays included)
    acknowledged: int  # verdicts fully acknowledged (verdict and, for rejects, the reject message)
    replayed: int  # verdicts published with replayed=true
    inflight: int
    depth: int
    oldest_age_s: float | None
    dropped_full: int
    dropped_age: int
    write_errors: int  # spool appends that failed (the verdict went to the memory fallback)
    memory_dropped: int  # verdicts lost: the memory fallback was full too, or still undelivered at stop
    memory_depth: int = 0  # undelivered verdicts held only in memory (not durable; included in depth)


class DeliveryLedger:
    """Entries handed to the connection and the messages each still waits for."""

    def __init__(self) -> None:
        self.inflight: dict[int, int] = {}  # mid -> entry id
        self.outstanding: dict[int, int] = {}  # entry id -> messages not yet acknowledged
        self.last_id = 0  # highest spool id handed to the connection
        self.published = self.acked = self.replayed = 0

    def expect(self, entry: SpoolEntry, messages: int) -> None:
        """`entry` is being handed over as `messages` messages; it is settled when every one is acknowledged."""
        if entry.id > 0:
            self.last_id = max(self.last_id, entry.id)
        self.outstanding[entry.id] = messages

    def accepted(self, entry_id: int, mid: int, verdict_copy: bool, replayed: bool) -> None:
        """The client took one message of the entry (`mid` is matched with its PUBACK)."""
        self.count_published(verdict_copy, replayed)
        self.inflight[mid] = entry_id

    def count_published(self, verdict_copy: bool, replayed: bool) -> None:
        """Count a message the client took: the verdict copy counts as published (and replayed when late)."""
        if verdict_copy:
            self.published += 1
            self.replayed += int(replayed)

    def acknowledged(self, mid: int) -> int | None:
        """The entry id whose message `mid` was acknowledged; None for status/stats messages or an entry
        already settled."""
        return self.inflight.pop(mid, None)

    def one_settled(self, entry_id: int) -> bool:
        """One message of the entry is done; True when it was the last one (the entry is then settled)."""
        left = self.outstanding.get(entry_id, 0) - 1
        if left > 0:
            self.outstanding[entry_id] = left
            return False
        self.outstanding.pop(entry_id, None)
        self.acked += 1
        return True
