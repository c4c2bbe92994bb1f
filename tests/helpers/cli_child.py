"""`python -m edge_inspector.cli ARGS` as a child process, the way a user or a script runs a verb."""

from __future__ import annotations

import os
import subprocess
import sys

ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # two shared cores: children never oversubscribe them


def cli(*args: str, ok: bool = True, timeout: float = 300,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the verb to its end; with `ok`, the test fails with the output's tail unless it exited 0."""
    done = subprocess.run([sys.executable, "-m", "edge_inspector.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=ONE_THREAD if env is None else env)
    if ok:
        assert done.returncode == 0, f"{args[0]} exited {done.returncode}: {(done.stdout + done.stderr)[-3000:]}"
    return done
