"""Where the browser tests find Chromium and put screenshots (the `page` fixture: tests/integration/conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("EI_ARTIFACTS") or Path(__file__).resolve().parents[2] / "test-artifacts") / "browser"
