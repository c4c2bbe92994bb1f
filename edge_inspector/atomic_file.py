"""Files that are replaced whole: readers, a crash and a power cut see the old file or the whole new one.

Every file the package rewrites in place for others to read goes through write_atomic: configs and units that
install-service writes, calibration profiles, labelled images, TensorRT plans and caches. A fresh temporary
file beside the target (O_EXCL, so two writers never share one; born with its final mode, so a password file
is never readable by others even for a moment), fsynced, renamed over the target, then the folder fsynced
so the rename itself survives a power cut. On any error the temporary file is removed and the target is
untouched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

Content = bytes | memoryview | Callable[[BinaryIO], object]


def write_atomic(path: Path, content: Content, *, mode: int | None = None) -> None:
    """Replace `path` with `content` (bytes, or a function writing to the open file); `mode` sets the new
    file's permissions exactly (whatever the umask), None leaves the umask's default."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666 if mode is None else mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            if mode is not None:
                os.fchmod(fh.fileno(), mode)
            if callable(content):
                content(fh)
            else:
                fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """fsync a folder so a rename or a new file in it is durable; file systems that cannot are skipped."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
