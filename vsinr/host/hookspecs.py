"""The hooks a vsinr plugin implements (pluggy project ``vsinr``)."""

from __future__ import annotations

import pluggy

from vsinr.host.methods import MethodSpec

hookspec = pluggy.HookspecMarker("vsinr")
hookimpl = pluggy.HookimplMarker("vsinr")


@hookspec
def vsinr_methods() -> list[MethodSpec]:  # type: ignore[empty-body]
    """Describe the methods this plugin provides.

    Called once per process when the plugins load. Must be cheap: build engines (and import torch)
    only inside each method's ``load``.
    """
