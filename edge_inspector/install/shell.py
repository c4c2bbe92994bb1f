"""Running the system tools the installer needs, with one-line errors."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from .layout import InstallError

Say = Callable[[str], None]


def run_command(cmd: Sequence[str], *, timeout: float = 1800) -> str:
    """Run cmd; return its stdout, or raise InstallError with the command and its last error line."""
    try:
        res = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise InstallError(f"{cmd[0]}: not found ({exc.strerror})") from exc
    except subprocess.TimeoutExpired as exc:
        raise InstallError(f"{shlex.join(cmd)}: no result after {timeout:.0f} s") from exc
    if res.returncode != 0:
        lines = (res.stderr.strip() or res.stdout.strip() or "no output").splitlines()
        raise InstallError(f"{shlex.join(cmd)} failed with exit {res.returncode}: {lines[-1]}")
    return res.stdout


def say_left(left: Sequence[str], say: Say) -> None:
    """The commands the installer could not run itself (another root, no systemd), for the engineer to run."""
    if left:
        say("still to do, as root on the line computer:")
        for cmd in left:
            say(f"  {cmd}")


def systemd_running() -> bool:
    """PID 1 is systemd: the test sd_booted(3) uses, the directory systemd creates at boot."""
    return Path("/run/systemd/system").is_dir()
