"""The one way this package reads a user-editable YAML file (station configs, calibration profiles).

A YAML file is a door like any other: a technician's typo and a hostile file are read by the same code,
as root under install-service and validate-config. So, before anything is built from it:
- the file's size is capped before it is read (MAX_BYTES) and it must be UTF-8 text;
- anchors and aliases are refused at the compose step, with their line: a few hundred bytes of aliases
  (the "billion laughs") expand to gigabytes in every consumer that walks the result;
- nesting is capped (MAX_DEPTH): the composer recurses once per level;
- a key given twice in one mapping is refused (PyYAML silently keeps the last one);
- every message is one line of at most MAX_ERROR characters, values quoted with redact.cap().
The result is the plain data plus a map of dotted key paths to 1-based lines, for errors that name a line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import UserError
from .redact import cap

MAX_BYTES = 1024 * 1024  # a station config or a profile is a few KB; 1 MiB is generous
MAX_DEPTH = 32  # levels of nested mappings/sequences
MAX_ERROR = 1000  # characters of one error message (values in it are capped far shorter, see VALUE_CHARS)
VALUE_CHARS = 80  # characters of one quoted value in an error message


class YamlFileError(UserError, ValueError):
    """A YAML file that cannot be read safely; the message is one line naming the file (and line when known)."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def one_line(message: str, limit: int = MAX_ERROR) -> str:
    """`message` on one line (CR/LF escaped) and at most `limit` characters, saying how much was cut."""
    text = message.replace("\r", "\\r").replace("\n", "\\n")
    if len(text) <= limit:
        return text
    note = f"... ({len(text) - limit + 40} characters cut)"
    return text[:limit - len(note)] + note


def label(text: object, limit: int = VALUE_CHARS) -> str:
    """A key or name as written when it is short and printable, else its capped repr."""
    if isinstance(text, str) and len(text) <= limit and text.isprintable():
        return text
    return cap(text, limit)


@dataclass
class YamlDocument:
    """What read_yaml() returns: the data (None for an empty file) and key path -> line."""

    data: Any
    lines: dict[str, int] = field(default_factory=dict)


class _Loader(yaml.SafeLoader):
    """SafeLoader whose composer refuses anchors, aliases and deep nesting before anything is constructed."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent) or getattr(event, "anchor", None) is not None:
            kind = "alias *" if isinstance(event, AliasEvent) else "anchor &"
            raise yaml.composer.ComposerError(
                None, None, f"YAML {kind}{label(event.anchor, 40)} is not allowed here (write the value out)",
                event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                                  event.start_mark)
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1


def read_yaml(path: Path | str, *, what: str = "YAML file", max_bytes: int = MAX_BYTES) -> YamlDocument:
    """Read `path` as described in the module doc; YamlFileError (one line) for every problem but a missing
    file, which raises FileNotFoundError so callers can word it their way."""
    path = Path(path)
    text = read_text(path, what, max_bytes)
    loader = None
    try:
        loader = _Loader(text)  # its reader already refuses control characters (NUL and the like)
        node = loader.get_single_node()
        lines: dict[str, int] = {}
        if node is not None:
            _index(node, "", lines)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise YamlFileError(f"{path}:{_where(exc)} invalid YAML: {_problem(exc)}") from None
    except _KeyProblem as exc:
        raise YamlFileError(f"{path}: {exc}") from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # e.g. `2026-13-45`, `!!int abc`
        raise YamlFileError(f"{path}: invalid YAML value: {cap(str(exc), VALUE_CHARS)}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return YamlDocument(data, lines)


def read_text(path: Path, what: str, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of `path`, at most `max_bytes` read; YamlFileError (one line) when it is larger, not
    UTF-8 or unreadable, FileNotFoundError when it is missing."""
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)  # never more: the file may be huge, or /dev/zero
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise YamlFileError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        size_text = f"{size} bytes" if size > max_bytes else f"more than {max_bytes} bytes"  # a pipe, /dev/zero
        raise YamlFileError(f"{path}: {what} is {size_text}, over the limit of {max_bytes} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise YamlFileError(f"{path}: line {line}: {what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                            f"offset {exc.start}); is it a binary file?") from None


class _KeyProblem(Exception):
    pass


def _index(node: Node, prefix: str, lines: dict[str, int]) -> None:
    """Fill key path -> line; refuse a key given twice in one mapping (compared as YAML resolved it)."""
    if isinstance(node, MappingNode):
        seen: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode):
                raise _KeyProblem(f"line {line}: {prefix or '<root>'}: expected a plain key, got a "
                                    f"{'mapping' if isinstance(key_node, MappingNode) else 'sequence'}")
            name = f"{prefix}{label(key_node.value)}"
            ident = (key_node.tag, key_node.value)
            if ident in seen:
                raise _KeyProblem(f"{name}: duplicate key (first on line {seen[ident]}, again on line {line})")
            seen[ident] = line
            lines.setdefault(name, line)
            _index(value_node, name + ".", lines)
    elif isinstance(node, SequenceNode):
        for number, item in enumerate(node.value):
            _index(item, f"{prefix.removesuffix('.')}[{number}].", lines)


def _where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return f" line {mark.line + 1}:" if mark is not None else ""


def _problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    if problem is None:  # a ReaderError (a control character) has no problem text, only its str()
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    context = getattr(exc, "context", None)
    return one_line(f"{problem} ({context})" if context else str(problem), 200)
