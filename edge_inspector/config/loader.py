"""Load one YAML file into typed config models; every error names the key path and line.

Unknown keys are refused and types are checked strictly (no silent coercion of "abc" to a port):
an inspection gate fails closed, it never falls back to defaults it was not told to use.
The steps, in order: the bounded YAML reader (yaml_safe.py), the typed models (typed_build.py), the checks
across fields (cross_checks.py, http_checks.py), the paths (paths.py), the secrets (secrets.py).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .cross_checks import check_consistency
from .field_limits import check_integers
from .key_problem import KeyProblem
from .models import Config
from .paths import resolve_paths
from .secrets import SecretError, load_secrets
from .typed_build import parse_config
from .yaml_safe import YamlFileError, one_line, read_yaml

MAX_CONFIG_BYTES = 1024 * 1024  # a station config is a few KB
INT32 = 2**31 - 1  # no count, size, port or index of a station config is larger
FLOAT_EXACT = 2**53  # the largest integers a float holds exactly
# no time, size, rate or threshold of a station config is larger; threading's waits and time.sleep raise
# OverflowError past ~9.2e9 s, so a 1e308 s interval would kill the thread that waits on it
FLOAT_MAX = 1e9


class ConfigError(UserError, ValueError):
    """A config file is invalid. The message is one line: file, key path, line, what was expected; at most
    yaml_safe.MAX_ERROR characters, whatever the file holds."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def located(path: Path, problem: KeyProblem, lines: dict[str, int]) -> str:
    """The one-line error every config file of the package gives for `problem`: `file: key: problem (line N)`,
    the line from the key path -> line map of yaml_safe.read_yaml (left out when the key has none)."""
    line = lines.get(problem.key)
    where = f" (line {line})" if line else ""
    return one_line(f"{path}: {problem.key}: {problem.problem}{where}")


def load_config(path: Path | str) -> Config:
    """Read, validate and resolve a config file; raise ConfigError naming the offending key."""
    path = Path(path)
    try:
        doc = read_yaml(path, what="config file", max_bytes=MAX_CONFIG_BYTES)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    except YamlFileError as exc:
        raise ConfigError(str(exc)) from None
    data, lines = ({} if doc.data is None else doc.data), doc.lines
    try:
        config = parse_config(data)
        check_integers(config, -FLOAT_EXACT, FLOAT_EXACT)  # the cross checks do float arithmetic on them
        check_consistency(config)  # its own ranges name the allowed values; the floor below catches the rest
        check_integers(config, -INT32, INT32, floats=FLOAT_MAX)
    except KeyProblem as exc:
        raise ConfigError(located(path, exc, lines)) from None
    resolved = resolve_paths(config, path.parent.resolve())
    try:
        return load_secrets(resolved, path)
    except SecretError as exc:
        raise ConfigError(str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}") from None
