"""CI policy for tests that need a real service or package: skip on a developer's machine, fail in CI."""

from __future__ import annotations

import os

import pytest


def skip_unless_ci(reason: str) -> None:
    """A real service the tests need is missing: skip on a developer's machine, fail in CI (CI=true),
    where .ci/run installs everything and a skip would hide a broken setup."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run these tests, not skip them)")
    pytest.skip(reason)
