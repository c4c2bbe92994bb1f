"""The station config and model: copied into /etc and /var/lib, model.path pointed at the copy."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from ..atomic_file import write_atomic
from .layout import InstallError, Layout
from .shell import Say

_TOP_KEY = re.compile(r"^\S")
_PLAIN = re.compile(r"^[\w/.\-]+$")


def _yaml_str(value: str) -> str:
    return value if _PLAIN.match(value) else json.dumps(value)  # a JSON string is a YAML string


def set_model_path(text: str, path: str, name: str = "config") -> str:
    """text with model.path set to path; comments and the rest of the file are kept as they are."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(r"^model:\s*(#.*)?$", line.rstrip("\n"))), None)
    if start is None:
        if any(line.startswith("model:") for line in lines):
            raise InstallError(f"{name}: model: is not a block mapping; set model.path by hand, without --model")
        sep = "" if not text or text.endswith("\n") else "\n"
        return f"{text}{sep}model:\n  path: {_yaml_str(path)}\n"
    end = next((i for i in range(start + 1, len(lines)) if _TOP_KEY.match(lines[i]) and
                not lines[i].startswith("#")), len(lines))
    children = [i for i in range(start + 1, end) if lines[i].strip() and not lines[i].lstrip().startswith("#")]
    indent = re.match(r"^\s*", lines[children[0]]).group(0) if children else "  "  # type: ignore[union-attr]
    for i in children:
        m = re.match(rf"^{indent}path:(\s*)([^#\n]*?)(\s+#.*)?$", lines[i].rstrip("\n"))
        if m:
            lines[i] = f"{indent}path: {_yaml_str(path)}{m.group(3) or ''}\n"
            return "".join(lines)
    lines.insert(start + 1, f"{indent}path: {_yaml_str(path)}\n")
    return "".join(lines)


def copy_model(model: Path, layout: Layout, say: Say) -> Path:
    """Copy the model directory into the models dir; an existing copy of that name is kept (an upgrade)."""
    if not model.is_dir():
        raise InstallError(f"--model {model}: not a directory")
    dest = layout.models / model.name
    if dest.exists():
        say(f"model: kept {dest} (already there; remove it to install a new copy)")
        return dest
    tmp = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(model, tmp)
    tmp.rename(dest)  # a model directory appears whole or not at all
    say(f"model: copied {model} to {dest}")
    return dest


CONFIG_MODE = 0o640  # it may hold the MQTT password: never readable by others, not even for a moment


def write_private(dest: Path, text: str, mode: int = CONFIG_MODE) -> None:
    """Write `text` to `dest` atomically, born with `mode`: a temp file created with that mode (O_EXCL, so
    the umask can only remove bits) and fsynced, then renamed over `dest`. Readers see the old file or
    the new one, and never a world-readable copy."""
    write_atomic(dest, text.encode("utf-8"), mode=mode)


def install_config(text: str, layout: Layout, say: Say) -> Path:
    """Write the config (mode 0640 from its first byte); an existing one is kept and the new one written
    beside it as NAME.yaml.new."""
    dest = layout.config
    if dest.exists():
        if dest.read_text(encoding="utf-8") == text:
            say(f"config: kept {dest} (unchanged)")
            return dest
        dest = dest.with_name(dest.name + ".new")
        write_private(dest, text)
        say(f"config: kept {layout.config}; the new one is {dest} (compare and merge by hand)")
        return dest
    write_private(dest, text)
    say(f"config: wrote {dest}")
    return dest
