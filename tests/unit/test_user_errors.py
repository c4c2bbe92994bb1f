"""User errors are one base class (errors.UserError) that each wing's exceptions subclass; errors.py imports
nothing of the package (it used to import ten modules with importlib to build its list)."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from edge_inspector.errors import USER_ERRORS, UserError

cli_main = importlib.import_module("edge_inspector.cli.main")  # the package re-exports main() as `main`

# The list errors.py built with importlib before, written out: (module, class name).
OLD_USER_ERRORS = [
    ("edge_inspector.config", "ConfigError"),
    ("edge_inspector.capture", "SourceError"),
    ("edge_inspector.backends", "BackendError"),
    ("edge_inspector.publish", "MqttConnectError"),
    ("edge_inspector.publish", "SpoolError"),
    ("edge_inspector.model.metadata", "MetadataError"),
    ("edge_inspector.publish.broker", "BrokerUnavailable"),
    ("edge_inspector.export", "ExportError"),
    ("edge_inspector.calibration", "CalibrationError"),
    ("edge_inspector.dashboard", "DashboardError"),
    ("edge_inspector.publish.audit", "AuditError"),
    ("edge_inspector.config.secrets", "SecretError"),
    ("edge_inspector.config.yaml_safe", "YamlFileError"),
]
# The other bases they had, which handlers elsewhere still catch them by.
OLD_BASES = {"ConfigError": ValueError, "SourceError": RuntimeError, "BackendError": RuntimeError,
             "MqttConnectError": RuntimeError, "SpoolError": RuntimeError, "MetadataError": ValueError,
             "BrokerUnavailable": RuntimeError, "ExportError": ValueError, "CalibrationError": ValueError,
             "DashboardError": ValueError, "AuditError": OSError, "SecretError": ValueError,
             "YamlFileError": ValueError}


def _cls(module: str, name: str) -> type[BaseException]:
    cls: type[BaseException] = getattr(importlib.import_module(module), name)
    return cls


@pytest.mark.parametrize(("module", "name"), OLD_USER_ERRORS)
def test_every_old_user_error_subclasses_user_error_and_keeps_its_base(module: str, name: str) -> None:
    cls = _cls(module, name)
    assert issubclass(cls, UserError) and issubclass(cls, USER_ERRORS)
    assert issubclass(cls, OLD_BASES[name])


def test_a_missing_file_is_still_a_user_error() -> None:
    assert issubclass(FileNotFoundError, USER_ERRORS)
    assert not issubclass(ValueError, USER_ERRORS) and not issubclass(RuntimeError, USER_ERRORS)


def test_importing_errors_loads_no_other_module_of_the_package() -> None:
    code = ("import sys\nimport edge_inspector.errors\n"
            "print(sorted(m for m in sys.modules if m.startswith('edge_inspector')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "['edge_inspector', 'edge_inspector.errors']"


def _raising_verb(exc: BaseException):  # type: ignore[no-untyped-def]
    def add(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
        def func(args: argparse.Namespace) -> int:
            raise exc

        sub.add_parser("fail").set_defaults(func=func)

    return add


@pytest.mark.parametrize(("module", "name"), [*OLD_USER_ERRORS, ("builtins", "FileNotFoundError")])
def test_the_cli_prints_each_as_one_line_and_exits_2(module: str, name: str, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    exc = _cls(module, name)(f"bad value for {name}")
    monkeypatch.setattr(cli_main, "ADDERS", [*cli_main.ADDERS, _raising_verb(exc)])
    assert cli_main.main(["fail"]) == 2
    err = capsys.readouterr().err
    assert err == f"edge-inspector fail: error: bad value for {name}\n"


def test_any_other_exception_is_not_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_main, "ADDERS", [*cli_main.ADDERS, _raising_verb(ValueError("a bug"))])
    with pytest.raises(ValueError, match="a bug"):
        cli_main.main(["fail"])
