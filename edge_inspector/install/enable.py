"""systemctl: enable and start an instance on a live system, or print the commands to run."""

from __future__ import annotations

import shlex

from .layout import Layout
from .shell import Say, run_command, systemd_running


def _can_run(layout: Layout) -> bool:
    return layout.is_live and systemd_running()


def _why_not(layout: Layout) -> str:
    return f"root is {layout.root}, not /" if not layout.is_live else "PID 1 is not systemd"


def enable(layout: Layout, enable_now: bool, say: Say) -> list[str]:
    """daemon-reload, then enable and (re)start the instance: `restart` starts a stopped one and moves a
    running one onto the new package. Returns the commands left for the operator."""
    start = f"systemctl enable --now {layout.instance}"
    if not _can_run(layout):
        say(f"systemd: {_why_not(layout)}: not running systemctl")
        return ["systemctl daemon-reload", start, f"systemctl restart {layout.instance}  # on an upgrade"]
    cmds = [["systemctl", "daemon-reload"]]
    if enable_now:
        cmds += [["systemctl", "enable", layout.instance], ["systemctl", "restart", layout.instance]]
    for cmd in cmds:
        run_command(cmd, timeout=900)  # restart waits for READY=1, up to TimeoutStartSec
        say(f"systemd: ran {shlex.join(cmd)}")
    return [] if enable_now else [start]


def disable(layout: Layout, say: Say) -> list[str]:
    """Stop and disable the instance (before its unit is removed); returns commands left for the operator."""
    cmd = ["systemctl", "disable", "--now", layout.instance]
    if not _can_run(layout):
        say(f"systemd: {_why_not(layout)}: not running systemctl")
        return [shlex.join(cmd), "systemctl daemon-reload"]
    run_command(cmd, timeout=120)
    say(f"systemd: ran {shlex.join(cmd)}")
    return []


def reload(layout: Layout, say: Say) -> None:
    """daemon-reload after units were removed (live systems only)."""
    if _can_run(layout):
        run_command(["systemctl", "daemon-reload"])
        say("systemd: ran systemctl daemon-reload")
