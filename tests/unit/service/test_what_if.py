"""What-if replays: bounded memory, flips computed by the daemon's own postprocess, answers that fit the
response schema; commands that waited too long are refused, never applied late; between-frames calls."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
from contract_schemas import validator

from edge_inspector.config import InspectionConfig
from edge_inspector.postprocess import postprocess
from edge_inspector.service.between_frames import BetweenFrames, Busy, Expired
from edge_inspector.service.commands import CommandError, CommandProcessor
from edge_inspector.service.profile_settings import InspectionSettings
from edge_inspector.service.proposal import proposed_settings
from edge_inspector.service.what_if import InspectionMemory, replay
from edge_inspector.types import Verdict

CFG = InspectionConfig(min_defect_area=4)


def part(peak: float, size: int = 32, spot: int = 4) -> np.ndarray:
    """A map that is 0.1 everywhere with a spot x spot blob of `peak` in the middle."""
    amap = np.full((size, size), 0.1, np.float32)
    c = size // 2
    amap[c : c + spot, c : c + spot] = peak
    return amap


def judged(amap: np.ndarray, score: float, settings: InspectionSettings) -> Verdict:
    return postprocess(amap, score, threshold=settings.threshold, pixel_threshold=settings.pixel_threshold,
                       cfg=settings.inspection)[0]


def test_memory_keeps_the_newest_within_both_limits_and_never_faults() -> None:
    one = part(0.9).nbytes
    memory = InspectionMemory(frames=5, max_bytes=3 * one)
    for seq in range(10):
        memory.add(seq, f"f{seq}", 0.5, Verdict.PASS, part(0.9))
    memory.add(10, "f10", 0.5, Verdict.FAULT, part(0.9))
    assert [k.seq for k in memory.snapshot()] == [7, 8, 9]  # the byte limit binds first
    memory = InspectionMemory(frames=2, max_bytes=100 * one)
    for seq in range(4):
        memory.add(seq, f"f{seq}", 0.5, Verdict.PASS, part(0.9))
    assert [k.seq for k in memory.snapshot()] == [2, 3]
    assert len(InspectionMemory(frames=0, max_bytes=one)) == 0
    with pytest.raises(ValueError, match="frames and max_bytes"):
        InspectionMemory(frames=-1, max_bytes=1)


@pytest.mark.parametrize(("changes", "pass_to_fail", "fail_to_pass"), [
    ({"image_threshold": 0.45}, 1, 0),  # b (score 0.5, has a region) now fails
    ({"image_threshold": 0.95}, 0, 2),  # both failing parts pass
    ({"pixel_threshold": 0.95}, 0, 2),  # no blob reaches the pixel threshold: no region, no FAIL
    ({"min_area": 17}, 0, 2),  # the 4x4 blobs are too small
    ({"min_peak": 0.85}, 0, 1),  # c's blob (0.8) is too faint
    ({"image_threshold": 0.6}, 0, 0),
])
def test_replay_flips_exactly_the_parts_the_daemon_would_judge_differently(
        changes: dict[str, Any], pass_to_fail: int, fail_to_pass: int) -> None:
    now = InspectionSettings(0.6, 0.5, CFG)
    parts = {"a": (0.3, part(0.2)), "b": (0.5, part(0.9)), "c": (0.7, part(0.8)), "d": (0.9, part(0.9))}
    memory = InspectionMemory(frames=10, max_bytes=10**7)
    for seq, (name, (score, amap)) in enumerate(parts.items()):
        memory.add(seq, name, score, judged(amap, score, now), amap)
    proposed = proposed_settings(now, CFG, changes)
    answer = replay(memory.snapshot(), proposed)
    assert (answer["pass_to_fail"], answer["fail_to_pass"]) == (pass_to_fail, fail_to_pass)
    expected = {name for name, (score, amap) in parts.items()
                if judged(amap, score, now) is not judged(amap, score, proposed)}
    assert {f["name"] for f in answer["flipped"]} == expected
    assert answer["now"] == {"PASS": 2, "FAIL": 2} and sum(answer["after"].values()) == 4
    assert answer["proposed"] == {"image_threshold": proposed.threshold, "pixel_threshold": proposed.pixel_threshold,
                                  "min_area": proposed.inspection.min_defect_area,
                                  "min_peak": proposed.inspection.min_region_peak}


def test_a_what_if_roi_hides_a_defect_outside_it() -> None:
    now = InspectionSettings(0.6, 0.5, CFG)
    memory = InspectionMemory(frames=10, max_bytes=10**7)
    memory.add(0, "d", 0.9, Verdict.FAIL, part(0.9))  # blob at 16..20
    inside = replay(memory.snapshot(), proposed_settings(now, CFG, {"roi": [8, 8, 20, 20]}))
    outside = replay(memory.snapshot(), proposed_settings(now, CFG, {"roi": [0, 0, 8, 8]}))
    assert inside["fail_to_pass"] == 0 and outside["fail_to_pass"] == 1


class Holder:
    def __init__(self) -> None:
        self.settings = InspectionSettings(0.6, 0.5, CFG)

    def use_settings(self, settings: InspectionSettings) -> None:
        self.settings = settings


def test_what_if_command_answers_at_once_fits_the_schema_and_changes_nothing() -> None:
    answers: list[dict[str, Any]] = []
    memory = InspectionMemory(frames=10, max_bytes=10**7)
    memory.add(3, "b", 0.5, Verdict.PASS, part(0.9))
    holder = Holder()
    proc = CommandProcessor(holder, CFG, "s1", "run-1", reply=answers.append, memory=memory)
    proc.submit({"id": "w", "action": "what-if", "set": {"image_threshold": 0.4}})
    assert len(answers) == 1 and answers[0]["ok"], answers  # not queued for the inspection thread
    w = answers[0]["what_if"]
    assert (w["replayed"], w["pass_to_fail"], w["flipped"][0]["seq"]) == (1, 1, 3)
    assert not list(validator("command-response").iter_errors(answers[0]))
    assert holder.settings.threshold == 0.6 and proc.apply_pending() == 0
    proc.submit({"id": "w2", "action": "what-if", "set": {"image_threshold": "x"}})
    assert answers[-1]["error"].startswith("set.image_threshold:")
    without = CommandProcessor(Holder(), CFG, "s1", "run-1", reply=answers.append)
    with pytest.raises(CommandError, match="keeps no inspections"):
        without.what_if({"image_threshold": 0.4})


def test_a_command_that_waited_past_its_expiry_is_refused_not_applied() -> None:
    answers: list[dict[str, Any]] = []
    proc = CommandProcessor(Holder(), CFG, "s1", "run-1", reply=answers.append)
    proc.submit({"id": "late", "action": "show"}, expires_in=0.0)
    time.sleep(0.01)
    assert proc.apply_pending() == 1
    assert not answers[0]["ok"] and answers[0]["error"].startswith("expired:")
    assert not list(validator("command-response").iter_errors(answers[0]))


def test_between_frames_runs_on_the_calling_loop_and_refuses_when_busy_or_late() -> None:
    between = BetweenFrames(maxsize=1)
    stop = threading.Event()
    ran_on: list[str] = []

    def loop() -> None:
        while not stop.is_set():
            between.run_pending()
            time.sleep(0.01)

    worker = threading.Thread(target=loop, name="inspection")
    worker.start()
    try:
        assert between.call(lambda: ran_on.append(threading.current_thread().name) or 42, timeout=5.0) == 42
        assert ran_on == ["inspection"]
        with pytest.raises(ZeroDivisionError):
            between.call(lambda: 1 / 0, timeout=5.0)
    finally:
        stop.set()
        worker.join()
    with pytest.raises(Expired):  # nobody runs the queue: refused once the loop comes back, never run late
        threading.Timer(0.3, between.run_pending).start()
        between.call(lambda: ran_on.append("late"), timeout=0.1)
    assert ran_on == ["inspection"]
    blocker = threading.Thread(target=lambda: between.call(lambda: None, 5.0))
    blocker.start()
    time.sleep(0.05)
    with pytest.raises(Busy):
        between.call(lambda: None, timeout=0.2)
    while blocker.is_alive():
        between.run_pending()
        blocker.join(timeout=0.05)


def test_bench_what_if_reports_both_proposals_and_the_live_jpeg() -> None:
    from edge_inspector.bench.what_if_bench import run_what_if_benchmark, what_if_summary_lines

    result = run_what_if_benchmark(frames=4, width=160, height=128, repeats=2)
    assert result["frames"] == 4 and result["frame_size"] == [160, 128]
    assert result["maps_mb"] == round(4 * 160 * 128 * 4 / 2**20, 1)
    lines = what_if_summary_lines(result)
    assert lines[0] == f"what-if replay of 4 kept maps of 160x128 ({result['maps_mb']} MB kept)"
    assert any(line.startswith("  pixel threshold low") for line in lines) and "machine:" in lines[-1]


def test_parts_judged_before_a_change_are_compared_with_the_settings_in_force_now() -> None:
    old, current = InspectionSettings(0.8, 0.5, CFG), InspectionSettings(0.6, 0.5, CFG)
    memory = InspectionMemory(frames=10, max_bytes=10**7)
    memory.add(0, "judged-by-old", 0.7, judged(part(0.9), 0.7, old), part(0.9), old)  # PASS then, FAIL now
    memory.add(1, "judged-now", 0.7, judged(part(0.9), 0.7, current), part(0.9), current)
    answer = replay(memory.snapshot(), proposed_settings(current, CFG, {"image_threshold": 0.75}), current)
    assert answer["now"] == {"PASS": 0, "FAIL": 2} and answer["fail_to_pass"] == 2
    assert {f["before"] for f in answer["flipped"]} == {"FAIL"}
