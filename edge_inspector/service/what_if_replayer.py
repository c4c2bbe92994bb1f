"""The `what-if` command: replay proposed numbers over the kept inspections, changing nothing.

Runs on the caller's thread (paho's, an HTTP handler's), one replay at a time (a second is refused as busy,
never queued), held to the same limits a `set` is (command_limits.py); the replay itself is what_if.py's.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .command_limits import check_changes
from .command_request import CommandError
from .profile_revision import SettingsHolder
from .proposal import proposed_settings
from .what_if import InspectionMemory, replay

if TYPE_CHECKING:
    from ..config import InspectionConfig


class WhatIfReplayer:
    """what_if() from any thread over `memory` (None: the daemon keeps no inspections, what-if is off)."""

    def __init__(self, holder: SettingsHolder, inspection: InspectionConfig, memory: InspectionMemory | None) -> None:
        self.holder, self.inspection, self.memory = holder, inspection, memory
        self._replaying = threading.Lock()

    def frame(self) -> tuple[int, int] | None:
        """(height, width) of the frames judged: the newest kept anomaly map's (maps are at frame resolution);
        None while none is kept (what_if_frames 0, or no frame judged yet)."""
        kept = self.memory.snapshot()[-1:] if self.memory is not None else []
        return (int(kept[0].anomaly_map.shape[0]), int(kept[0].anomaly_map.shape[1])) if kept else None

    def what_if(self, changes: dict[str, Any], force: bool = False) -> dict[str, Any]:
        """Replay `changes` (validated SET_KEYS) over the kept inspections; CommandError when out of limits
        (the same limits `set` applies), busy or off."""
        if self.memory is None:
            raise CommandError("what-if: the daemon keeps no inspections (what_if_frames is 0)")
        current = self.holder.settings
        check_changes(changes, current, self.frame(), force)
        if not self._replaying.acquire(blocking=False):
            raise CommandError("busy: another what-if is replaying")
        try:
            proposed = proposed_settings(current, self.inspection, changes, quiet=True)
            return replay(self.memory.snapshot(), proposed, current)
        finally:
            self._replaying.release()
