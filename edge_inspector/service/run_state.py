"""The state of one daemon run, in one small object that monitor, metrics, summary and control read.

The daemon creates one RunState and hands it to each of them, so none of them needs the whole daemon (and
none imports it): they read the run id, config, counts, latencies, stage times, the settings in force, the
loop's last turn and the systemd notifier here. The thresholds are held once, in the settings that judge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..config import Config
from .profile_settings import InspectionSettings
from .sdnotify import SystemdNotifier
from .stages import StageTimes
from .stats import LatencyRecorder
from .summary import RunSummary


@dataclass(eq=False)
class RunState:
    """One run's shared state; the settings are swapped only on the inspection thread (use_settings)."""

    cfg: Config
    run_id: str
    summary: RunSummary = field(init=False)
    settings: InspectionSettings = field(init=False)
    notifier: SystemdNotifier = field(default_factory=SystemdNotifier)
    latency: LatencyRecorder = field(default_factory=LatencyRecorder)  # capture to verdict
    inference: LatencyRecorder = field(default_factory=LatencyRecorder)  # scorer time per frame
    stages: StageTimes = field(default_factory=StageTimes)  # time per pipeline stage (summary, bench)
    model_id: str = ""
    loop_turned: float = field(default_factory=time.monotonic)  # /healthz: the inspection loop is alive

    def __post_init__(self) -> None:
        self.summary = RunSummary(run_id=self.run_id)
        # NaN until the backend's metadata resolves the real thresholds (Daemon.run)
        self.settings = InspectionSettings(float("nan"), float("nan"), self.cfg.inspection)

    def use_settings(self, settings: InspectionSettings) -> None:
        """Judge the next frames with `settings`; call on the inspection thread only (between two frames)."""
        self.settings = settings

    @property
    def threshold(self) -> float:
        """The image threshold in force (read from the settings: there is no second copy to drift)."""
        return self.settings.threshold

    @property
    def pixel_threshold(self) -> float:
        """The pixel threshold in force."""
        return self.settings.pixel_threshold
