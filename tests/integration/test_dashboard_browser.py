"""The dashboard in a real browser (Debian's Chromium driven by Playwright) on a real daemon, model, video and broker.

A technician's session: the live page updates its frame; on the threshold panel moving the sliders changes the
what-if counts, applying the proposal makes the daemon's verdicts follow it at a real MQTT subscriber, and a
rollback brings the old number back; the inspect page judges an uploaded image; the rejects gallery opens a
part's detail. Screenshots (PNG) go to test-artifacts/browser/ (or $EI_ARTIFACTS).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import cv2
import pytest
from helpers.browser import ARTIFACTS
from helpers.daemon_process import verdicts, wait_for
from helpers.dashboard import start_dashboard_daemon
from helpers.profile import FIXED, calibrate

pytestmark = [pytest.mark.integration, pytest.mark.browser]
N = 16


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_technician_changes_a_threshold_in_the_browser_and_the_line_follows(
        tmp_path: Path, trained_model: Any, mosquitto_broker: Any, mqtt_subscriber: Any, page: Any) -> None:
    model_dir, category, _ = trained_model
    profile = calibrate(model_dir, model_dir.parent / "data" / category, tmp_path / "cal", *FIXED)
    sub = mqtt_subscriber(mosquitto_broker, "ei-rel/web/#")
    # fastest: each frame waits for the scorer, so a busy machine judges every part later, never FAULTs one
    # (what-if replays only judged parts, and the page waits for N of them)
    daemon, thread, http = start_dashboard_daemon(tmp_path, trained_model, mosquitto_broker, "web", profile,
                                                  n_frames=N, pacing="fastest")
    base = http.base
    try:
        assert wait_for(lambda: len(verdicts(sub)) >= N, 60.0), "one loop of the line video"

        # live: the frame and the verdict update as parts come by
        page.goto(base + "/")
        page.wait_for_function("document.querySelector('#frame') && "
                               "/seq=\\d+/.test(document.querySelector('#frame').src)", timeout=60000)
        first = page.get_attribute("#frame", "src")
        page.wait_for_function(f"document.querySelector('#frame').src.indexOf({first!r}) === -1", timeout=60000)
        assert page.inner_text("#verdict") in ("PASS", "FAIL", "FAULT")
        assert page.inner_text("#station") == "web"
        assert "plate/s1 r1" in page.inner_text("#profile")
        page.wait_for_function("document.querySelector('#frame').naturalWidth > 0", timeout=60000)
        shot(page, "live")

        # threshold panel: moving the sliders changes the what-if counts
        page.goto(base + "/threshold")
        page.fill("#token", http.token)
        page.wait_for_function("document.querySelector('#image-threshold-value').value !== ''", timeout=60000)
        assert float(page.input_value("#image-threshold-value")) == pytest.approx(0.6123)
        page.focus("#image-threshold")
        page.keyboard.press("ArrowRight")
        page.wait_for_function("document.querySelector('#whatif-replayed').textContent.trim() === '16'",
                               timeout=60000)
        unchanged = int(page.inner_text("#whatif-pass-to-fail"))
        page.fill("#min-peak", "0")  # no region is too faint ...
        page.focus("#pixel-threshold")
        page.keyboard.press("Home")  # ... every pixel forms a region ...
        page.focus("#image-threshold")
        page.keyboard.press("Home")  # ... and every score is above the threshold: every kept PASS would fail
        kept_pass = sum(1 for v in verdicts(sub)[-N:] if v["verdict"] == "PASS")
        page.wait_for_function(
            "document.querySelector('#image-threshold-value').value === '0' && "
            "document.querySelector('#pixel-threshold-value').value === '0' && "
            f"document.querySelector('#whatif-pass-to-fail').textContent.trim() !== '{unchanged}'", timeout=60000)
        moved = int(page.inner_text("#whatif-pass-to-fail"))
        assert moved > unchanged and moved == page.locator("#whatif-flipped tbody tr").count()
        assert moved <= kept_pass
        answer = http.get("/api/what-if?image_threshold=0&pixel_threshold=0&min_peak=0").json()
        assert moved == answer["pass_to_fail"] and answer["after"]["PASS"] == 0
        shot(page, "threshold")

        page.fill("#author", "bo")
        page.fill("#reason", "browser test: reject everything")
        page.click("#apply")
        page.wait_for_function("document.querySelector('#apply-result').textContent.includes('revision 2')",
                               timeout=60000)
        assert "ok" in (page.get_attribute("#apply-result", "class") or "")
        assert wait_for(lambda: sum(1 for v in verdicts(sub) if v["threshold"] == 0.0) >= 4, 30.0)
        judged = [v for v in verdicts(sub) if v["threshold"] == 0.0 and v["verdict"] != "FAULT"]
        assert judged and all(v["verdict"] == "FAIL" for v in judged), "the line follows the applied what-if"
        page.wait_for_function("document.querySelectorAll('#history tbody tr').length === 2", timeout=60000)

        page.click("#history tbody tr[data-revision='1'] button.rollback")
        page.wait_for_function("document.querySelector('#apply-result').textContent.includes('revision 3')",
                               timeout=60000)
        n_old = sum(1 for v in verdicts(sub) if v["threshold"] == 0.6123)
        assert wait_for(lambda: sum(1 for v in verdicts(sub) if v["threshold"] == 0.6123) >= n_old + 4, 30.0)
        last_zero = max(v["seq"] for v in verdicts(sub) if v["threshold"] == 0.0)
        assert all(v["threshold"] == 0.6123 for v in verdicts(sub) if v["seq"] > last_zero)
        page.wait_for_function("document.querySelectorAll('#history tbody tr').length === 3", timeout=60000)

        # inspect: upload a frame of the line and see the verdict and pictures
        video = cv2.VideoCapture(str(tmp_path / "line.avi"))
        ok, image = video.read()
        video.release()
        assert ok
        upload = tmp_path / "part.png"
        cv2.imwrite(str(upload), image)
        page.goto(base + "/inspect")
        page.fill("#token", http.token)
        page.set_input_files("#upload", str(upload))
        page.click("#inspect-submit")
        page.wait_for_function("['PASS', 'FAIL'].includes(document.querySelector('#inspect-verdict').textContent"
                               ".trim())", timeout=60000)
        assert (page.get_attribute("#inspect-heatmap", "src") or "").startswith("data:image/jpeg;base64,")
        assert page.is_visible("#inspect-reconstruction"), "the scratch autoencoder's reconstruction is shown"
        score = float(page.inner_text("#inspect-score"))
        line = [v["score"] for v in verdicts(sub) if v["frame"] == "frame_000000" and v["score"] is not None]
        assert min(abs(score - s) for s in line) < 1e-3, "the upload scores like the same part on the line"
        shot(page, "inspect")

        # rejects: the gallery lists FAIL parts and opens one
        page.goto(base + "/rejects")
        page.wait_for_selector("#rejects .reject", timeout=60000)
        page.click("#rejects .reject >> nth=0")
        page.wait_for_selector("#detail", state="visible", timeout=30000)
        assert page.inner_text("#detail-verdict") in ("FAIL", "FAULT")
        shot(page, "rejects")
        assert thread.is_alive()
    finally:
        daemon.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    readme_shot = Path(__file__).resolve().parents[2] / "docs" / "images" / "dashboard-threshold.png"
    if os.environ.get("EI_UPDATE_README_SHOT"):  # refresh the README's picture on purpose only
        shutil.copy(ARTIFACTS / "threshold.png", readme_shot)
