"""Source registry: `source.kind` in the config picks a kind of source, imported only when used.

Shaped like backends/registry.py: a kind's module is imported when a source of that kind is opened, so a
line that reads a video file never imports the GenICam code, and a kind whose packages are missing fails
with one line that says what to install.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..backends.lazy_lookup import UnknownName, lazy_lookup
from ..config import SourceConfig
from .base import FrameSource, SourceError
from .genicam_gi import INSTALL_HINT

log = logging.getLogger(__name__)

# kind -> "module:factory"; factory(SourceConfig) -> an unopened FrameSource.
REGISTRY: dict[str, str] = {
    "video": "edge_inspector.capture.sources:video_source",
    "camera": "edge_inspector.capture.sources:camera_source",
    "url": "edge_inspector.capture.sources:url_source",
    "folder": "edge_inspector.capture.sources:folder_source",
    "genicam": "edge_inspector.capture.genicam:genicam_source",
}
# What `source.kind` accepts (config/models.py spells the same names for the loader's check; a test keeps
# the two equal).
SOURCE_KINDS = tuple(REGISTRY)
# What to install when a kind's module cannot be imported (the default: this package's own dependencies).
INSTALL = {"genicam": INSTALL_HINT}


def source_factory(kind: str) -> Callable[[SourceConfig], FrameSource]:
    """The factory of a source kind; SourceError naming the kind when it is unknown or cannot be imported."""
    try:
        factory: Callable[[SourceConfig], FrameSource] = lazy_lookup(REGISTRY, kind)
    except UnknownName:
        raise SourceError(f"source.kind {kind!r} is not a source kind (known: {', '.join(SOURCE_KINDS)})") from None
    except ImportError as exc:
        raise SourceError(f"source.kind {kind}: needs a package that is not installed: {exc.name} "
                          f"({INSTALL.get(kind, 'pip install edge-inspector')})") from None
    return factory


def open_source(cfg: SourceConfig) -> FrameSource:
    """Build and open the source a config describes."""
    source = source_factory(cfg.kind)(cfg)
    source.open()
    log.info("opened %s", source.describe())
    return source
