"""The plugin registry: loads method plugins from the ``vsinr`` entry-point group.

A plugin that fails to import, or whose hook raises, is recorded with its error and skipped; the
others still load. Loading is lazy, idempotent and thread-safe.

pluggy registers each plugin module and checks its hook implementations against ``vsinr.host.hookspecs``.
Each plugin's implementation is then called on its own (``get_hookimpls``) rather than through one
``pm.hook.vsinr_methods()`` call, which would stop at the first plugin that raises and could not say
which plugin a method came from.
"""

from __future__ import annotations

import importlib.metadata
import threading
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, cast

import pluggy

from vsinr.host import hookspecs
from vsinr.host.methods import MethodSpec

ENTRY_POINT_GROUP = "vsinr"

pm = pluggy.PluginManager("vsinr")
pm.add_hookspecs(hookspecs)


@dataclass
class PluginInfo:
    """One entry point of the ``vsinr`` group and what became of it."""

    name: str
    module: str
    distribution: str
    version: str
    methods: list[MethodSpec] = field(default_factory=list)
    error: str | None = None

    @property
    def status(self) -> str:
        return "error" if self.error else "ok"

    def describe(self) -> dict[str, Any]:
        tasks = sorted({task for method in self.methods for task in method.tasks})
        return {
            "name": self.name,
            "version": self.version,
            "distribution": self.distribution,
            "module": self.module,
            "tasks": tasks,
            "methods": [method.describe() for method in self.methods],
            "status": self.status,
            "error": self.error,
        }


_lock = threading.Lock()
_plugins: list[PluginInfo] | None = None


def plugins() -> list[PluginInfo]:
    """Every discovered plugin, loading them on first use."""
    global _plugins
    with _lock:
        if _plugins is None:
            _plugins = [_load(ep) for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)]
        return _plugins


def methods() -> dict[str, MethodSpec]:
    """The methods of the plugins that loaded, by name (the first plugin to claim a name keeps it)."""
    found: dict[str, MethodSpec] = {}
    for info in plugins():
        for method in info.methods:
            found.setdefault(method.name, method)
    return found


def codecs() -> dict[str, MethodSpec]:
    """The methods that are also neural video codecs (``vsinr encode``, ``Decode``), by name."""
    return {name: method for name, method in methods().items() if method.codec is not None}


def methods_for(task: str) -> list[MethodSpec]:
    """Methods serving ``task``, best first (highest priority, then name)."""
    serving = [m for m in methods().values() if task in m.tasks]
    return sorted(serving, key=lambda m: (-m.tasks[task].priority, m.name))


def _load(ep: importlib.metadata.EntryPoint) -> PluginInfo:
    dist = ep.dist
    info = PluginInfo(
        name=ep.name,
        module=ep.value,
        distribution=dist.name if dist else "",
        version=dist.version if dist else "",
    )
    try:
        module = ep.load()
        if not isinstance(module, ModuleType):
            raise TypeError(f"entry point {ep.value!r} must name a module, not {type(module).__name__}")
        if pm.get_plugin(ep.name) is None:
            pm.register(module, name=ep.name)
        info.version = str(getattr(module, "__version__", "") or info.version)
        # pluggy types a hook's result as object; what it holds is checked below
        results = [cast(Iterable[object] | None, impl.function()) for impl in pm.hook.vsinr_methods.get_hookimpls() if impl.plugin is module]
        for result in results:
            for method in result or []:
                if not isinstance(method, MethodSpec):
                    raise TypeError(f"vsinr_methods() returned {type(method).__name__}, not MethodSpec")
                info.methods.append(method)
        if not results:
            raise TypeError("the module implements no vsinr hook (expected vsinr_methods)")
    except Exception as exc:  # a broken plugin must never take the others down
        info.methods = []
        info.error = "".join(traceback.format_exception_only(exc)).strip()
    return info
