"""A technician labels a reject's defect type in a real browser (Debian's Chromium driven by Playwright) on a real
daemon, model, looping line video and broker: token and name entered once, a part opened, a type picked, Label
pressed; the page shows the saved label and the raw frame is in LABELS_DIR/test/<type>/. Screenshots go to
test-artifacts/browser/ (or $EI_ARTIFACTS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers.browser import ARTIFACTS
from helpers.daemon_process import wait_for
from helpers.dashboard import Http, start_dashboard_daemon
from helpers.profile import FIXED, calibrate

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def recent_fail(http: Http) -> int:
    found: list[int] = []

    def look() -> bool:
        fails = [r["seq"] for r in http.get("/api/rejects?limit=50").json()["rejects"] if r["verdict"] == "FAIL"]
        found[:] = [s for s in fails[:8] if http.get(f"/api/rejects/{s}/raw.png").status == 200][:1]
        return bool(found)

    assert wait_for(look, 120.0), "a FAIL with its raw frame"
    return found[0]


def test_a_technician_labels_a_reject_in_the_browser(tmp_path: Path, trained_model: Any, mosquitto_broker: Any,
                                                     page: Any) -> None:
    model_dir, category, _ = trained_model
    profile = calibrate(model_dir, model_dir.parent / "data" / category, tmp_path / "cal", *FIXED)
    labels = tmp_path / "labels"
    # one part a second: the part stays among the 200 recent rejects the dashboard can label for minutes
    daemon, thread, http = start_dashboard_daemon(
        tmp_path, trained_model, mosquitto_broker, "labweb", profile, fps=1.0,
        dashboard={"labels_dir": str(labels), "defect_types": ["crack", "scratch"]})
    try:
        seq = recent_fail(http)
        run_id = http.get("/api/state").json()["run_id"]
        page.goto(http.base + "/rejects")
        page.fill("#token", http.token)
        page.fill("#label-author", "bo")
        page.dispatch_event("#label-author", "change")
        assert page.is_hidden("#labels-off")
        page.goto(http.base + f"/rejects#{seq}")
        page.wait_for_selector("#detail", state="visible", timeout=30000)
        page.wait_for_function("document.querySelectorAll('#label-type option').length >= 4", timeout=30000)
        assert page.inner_text("#detail-seq") == f"#{seq}"
        assert page.inner_text("#label-current") == "not labelled yet"
        page.select_option("#label-type", "scratch")
        page.fill("#label-note", "seen from the browser")
        page.click("#label-submit")
        page.wait_for_function("document.querySelector('#label-result').classList.contains('ok')", timeout=30000)
        name = f"labweb-{run_id}-{seq}.png"
        assert page.inner_text("#label-result") == f"saved: scratch → test/scratch/{name}"
        assert "labelled scratch by bo (seen from the browser)" in page.inner_text("#label-current")
        saved = labels / "test" / "scratch" / name
        assert saved.is_file()
        assert saved.read_bytes() == http.get(f"/api/rejects/{seq}/raw.png").body, "the raw frame, byte for byte"
        page.screenshot(path=str(ARTIFACTS / "rejects-label.png"), full_page=True)

        # a new type typed in moves the part's file; the card shows the label after the dialog closes
        page.fill("#label-custom", "missing material")
        page.click("#label-submit")
        page.wait_for_function("document.querySelector('#label-result').textContent.includes('moved from')",
                               timeout=30000)
        assert wait_for(lambda: (labels / "test" / "missing material" / name).is_file() and not saved.exists(), 10.0)
        page.click("#detail-close")
        card = f"#rejects .reject[data-seq='{seq}'] .r-label"
        if page.locator(card).count():  # still among the 50 the gallery shows
            page.wait_for_function(f"document.querySelector(\"{card}\").textContent === "
                                   "'label: missing material · bo'", timeout=30000)

        # a wrong token: the page shows the server's one-line error and nothing moves
        page.goto(http.base + f"/rejects#{seq}")
        page.wait_for_selector("#detail", state="visible", timeout=30000)
        page.fill("#token", "wrong")
        page.fill("#label-author", "bo")
        page.wait_for_function("document.querySelectorAll('#label-type option').length >= 4", timeout=30000)
        page.select_option("#label-type", "crack")
        page.click("#label-submit")
        page.wait_for_function("document.querySelector('#label-result').classList.contains('error')", timeout=30000)
        assert "Bearer" in page.inner_text("#label-result")
        assert (labels / "test" / "missing material" / name).is_file()
        assert not (labels / "test" / "crack").exists()
        assert thread.is_alive()
    finally:
        daemon.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
