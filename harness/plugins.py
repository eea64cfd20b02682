"""One registry per kind of extension: the built-in entries plus Python entry points.

A lab adds a power-monitor backend, a board driver or a dataset adapter without
forking the harness: its own distribution declares an entry point in the kind's
group (``tinyml_harness.monitors``, ``tinyml_harness.boards``,
``tinyml_harness.datasets``; docs/architecture.md, "Extensions"). The entry
point's name is what bench files say; its object is the kind's info record
(`BackendInfo`, `DriverInfo`, `DatasetAdapterInfo`), holding the display label and
the parameter schema next to what does the work.

Entry points are listed by name without being imported: a plugin is loaded only
when a bench uses its name, so one broken plugin cannot break the others. A
plugin cannot replace a built-in entry; the built-in keeps the name.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

from harness.errors import HarnessError

log = logging.getLogger(__name__)

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries of one kind by name: ``builtins`` first, then the group's entry points."""

    def __init__(self, what: str, group: str, info_type: type[T],
                 builtins: Mapping[str, T] | Callable[[], Mapping[str, T]]) -> None:
        self.what = what            # "power monitor backend", for messages
        self.group = group
        self._info_type = info_type
        self._builtins = builtins
        self._loaded: dict[str, T] = {}

    def builtins(self) -> Mapping[str, T]:
        return self._builtins() if callable(self._builtins) else self._builtins

    def _entry_points(self) -> dict[str, EntryPoint]:
        builtin = self.builtins()
        found: dict[str, EntryPoint] = {}
        for ep in _installed(self.group, tuple(sys.path)):
            if ep.name in builtin:
                log.warning("entry point %r in %s (%s) is ignored: %s %r is built in",
                            ep.name, self.group, ep.value, self.what, ep.name)
            else:
                found.setdefault(ep.name, ep)
        return found

    def names(self) -> list[str]:
        """Every name a bench may use: the built-in ones, then the installed plugins'."""
        return [*self.builtins(), *sorted(self._entry_points())]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def get(self, name: str) -> T:
        """The entry ``name``; a plugin's is imported now. HarnessError when there is none,
        or the plugin cannot be loaded or is not a ``info_type``."""
        builtin = self.builtins()
        if name in builtin:
            return builtin[name]
        if name in self._loaded:
            return self._loaded[name]
        ep = self._entry_points().get(name)
        if ep is None:
            raise HarnessError(f"no {self.what} {name!r} (known: {', '.join(self.names())})")
        where = f"entry point {name!r} in {self.group} ({ep.value})"
        try:
            info = ep.load()
        except Exception as exc:  # whatever the plugin's import raises, say which plugin
            raise HarnessError(f"{where} cannot be loaded: {type(exc).__name__}: {exc}"
                               ) from exc
        if not isinstance(info, self._info_type):
            raise HarnessError(f"{where} is a {type(info).__name__}, not the "
                               f"{self._info_type.__name__} a {self.what} registers")
        self._loaded[name] = info
        return info


@functools.lru_cache(maxsize=32)
def _installed(group: str, search_path: tuple[str, ...]) -> tuple[EntryPoint, ...]:
    """The group's entry points on ``search_path`` (scanning every installed distribution's
    metadata takes ~10 ms: once per group and sys.path)."""
    return tuple(entry_points(group=group))
