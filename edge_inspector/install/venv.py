"""The virtualenv in /opt/edge-inspector/.venv with the package (and its extras) installed by pip."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from .layout import InstallError, Layout
from .shell import Say, run_command

DEFAULT_EXTRAS = ("onnx", "dashboard")
# Written into the venv by --offline: puts --python's site-packages on the venv's path. `venv
# --system-site-packages` would not do: from a virtualenv's python it exposes the base interpreter's.
DEPS_PTH = "_edge_inspector_deps.pth"
# What pip needs to build the package; a copy keeps pip's in-tree build/ and egg-info out of the checkout.
PACKAGE_FILES = ("setup.py", "setup.cfg", "pyproject.toml", "MANIFEST.in", "README.md", "LICENSE")


def _stage_source(source: Path, into: Path) -> Path:
    for name in PACKAGE_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, into / name)
    shutil.copytree(source / "edge_inspector", into / "edge_inspector",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return into


def _site_packages(python: Path) -> list[str]:
    code = "import site, sys; print('\\n'.join(p for p in site.getsitepackages() if p.startswith(sys.prefix)))"
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise InstallError(f"--python {python}: cannot ask it for its site-packages ({exc})") from exc
    return [line for line in out.stdout.splitlines() if line]


def create_venv(layout: Layout, python: Path, source: Path, extras: tuple[str, ...], offline: bool,
                say: Say) -> None:
    """Create the venv if missing, then (re)install the package from source with pip.

    offline: take every dependency from --python's environment (pip --no-deps --no-index
    --no-build-isolation): nothing is downloaded, for CI and for lines without internet access."""
    if not (source / "setup.py").is_file() or not (source / "edge_inspector").is_dir():
        raise InstallError(f"--source {source}: no setup.py and edge_inspector/ (not an edge-inspector checkout)")
    venv_python = layout.venv / "bin" / "python"
    if venv_python.exists():
        # An upgrade: the old package goes first so that no module deleted since stays importable.
        run_command([str(venv_python), "-m", "pip", "uninstall", "--yes", "--quiet", "edge-inspector"])
        say(f"venv: reusing {layout.venv}, removed the old package")
    else:
        # offline: pip comes from --python's site-packages, so the venv needs no copy of its own.
        run_command([str(python), "-m", "venv", *(["--without-pip"] if offline else []), str(layout.venv)])
        say(f"venv: created {layout.venv} with {python}")
    pth = next(iter(sorted(layout.venv.glob("lib/python*/site-packages"))), None)
    if pth is None:
        raise InstallError(f"{layout.venv}: no lib/pythonX.Y/site-packages (not a virtualenv?)")
    if offline:
        (pth / DEPS_PTH).write_text("\n".join(_site_packages(python)) + "\n", encoding="utf-8")
    else:
        (pth / DEPS_PTH).unlink(missing_ok=True)
    requirement = f"{source}[{','.join(extras)}]" if extras else str(source)
    pip = [str(venv_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade"]
    if offline:
        pip += ["--no-deps", "--no-index", "--no-build-isolation"]
    with tempfile.TemporaryDirectory(prefix="edge-inspector-src-") as tmp:
        staged = _stage_source(source, Path(tmp))
        run_command([*pip, requirement.replace(str(source), str(staged), 1)])
    if not layout.executable.is_file():
        raise InstallError(f"{layout.executable}: pip finished but did not create it")
    say(f"venv: installed {requirement}{' (offline: dependencies from ' + str(python) + ')' if offline else ''}")
