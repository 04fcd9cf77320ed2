"""Build hook: compiles the native entry point and installs it into VapourSynth's plugin folder.

The library lands at ``site-packages/vapoursynth/plugins/libvsinr.so`` (the folder VapourSynth's PyPI
wheel auto-loads), for regular and editable installs alike.
"""

from __future__ import annotations

import os
import subprocess
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PLUGIN_TARGET = "vapoursynth/plugins/libvsinr.so"


class NativeEntryPointHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        import vapoursynth  # a build requirement: only its headers are used

        source = Path(self.root) / "filters" / "vsinr_entry.c"
        out_dir = Path(tempfile.mkdtemp(prefix="vsinr-build-"))
        library = out_dir / "libvsinr.so"
        compiler = os.environ.get("CC", "gcc")
        subprocess.run(
            [compiler, "-shared", "-fPIC", "-O2", "-Wall", "-Werror", f"-I{vapoursynth.get_include()}",
             str(source), "-o", str(library), "-ldl"],
            check=True,
        )
        build_data["force_include"][str(library)] = PLUGIN_TARGET
        build_data["force_include_editable"][str(library)] = PLUGIN_TARGET
        build_data["pure_python"] = False
        build_data["tag"] = f"py3-none-{sysconfig.get_platform().replace('-', '_').replace('.', '_')}"
