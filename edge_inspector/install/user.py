"""The system user the service runs as: `edge-inspector`, group `edge-inspector`, also in `video`."""

from __future__ import annotations

import grp
import pwd
import shlex
from collections.abc import Callable

from .layout import USER, Layout
from .shell import Say, run_command

# Cameras (/dev/video*) and the Jetson GPU nodes belong to group video.
DEVICE_GROUP = "video"


def user_commands(existing_user: bool, existing_group: bool) -> list[list[str]]:
    """The commands that make the user exist and belong to the device group."""
    cmds: list[list[str]] = []
    if not existing_group:
        cmds.append(["groupadd", "--system", USER])
    if existing_user:
        cmds.append(["usermod", "--append", "--groups", DEVICE_GROUP, USER])
    else:
        cmds.append(["useradd", "--system", "--gid", USER, "--groups", DEVICE_GROUP, "--no-create-home",
                     "--home-dir", "/var/lib/edge-inspector", "--shell", "/usr/sbin/nologin",
                     "--comment", "edge-inspector visual inspection", USER])
    return cmds


def _exists(lookup: Callable[[str], object], name: str) -> bool:
    try:
        lookup(name)
    except KeyError:
        return False
    return True


def ensure_user(layout: Layout, say: Say) -> list[str]:
    """Create the user on a live root; under another root only report the commands (returned) so that a
    test never touches the real /etc/passwd."""
    if not layout.is_live:
        cmds = user_commands(existing_user=False, existing_group=False)
        say(f"user: root is {layout.root}, not /: not creating user {USER} (would run: "
            f"{'; '.join(shlex.join(c) for c in cmds)})")
        return [shlex.join(c) for c in cmds]
    has_user, has_group = _exists(pwd.getpwnam, USER), _exists(grp.getgrnam, USER)
    in_video = _exists(grp.getgrnam, DEVICE_GROUP) and USER in grp.getgrnam(DEVICE_GROUP).gr_mem
    if has_user and has_group and in_video:
        say(f"user: {USER} exists, in group {DEVICE_GROUP}")
        return []
    for cmd in user_commands(has_user, has_group):
        run_command(cmd)
    say(f"user: {'updated' if has_user else 'created'} system user {USER} (group {USER}, also in {DEVICE_GROUP})")
    return []
