"""The public functions (STVSR, Interpolate, ...): their arguments, validation and method choice.

This module turns a function call into a ``Plan`` or a ``UsageError`` that says what to do instead.
It knows nothing of ctypes or torch, so it is the one place to read the public contract.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from vsinr.host import plugins
from vsinr.host.methods import Call, MethodSpec, NativeResize, Param
from vsinr.serving.timing import MAX_FRAMES, TimeMap

CONVERT_HINT = 'core.resize.Bicubic(clip, format=vs.RGBS, matrix_in_s="709")'


class UsageError(ValueError):
    """A call that cannot be served; the message says how to fix it (the bridge prefixes the function)."""


@dataclass(frozen=True)
class Arg:
    name: str
    type: str  # VapourSynth argument type: int, float, data; vnode arguments are required clips
    default: Any
    doc: str = ""


# Argument groups the functions share (in their positional order).
#: Where the network comes from and where it runs.
MODEL = (
    Arg("weights", "data", "", "empty: the method's bundled default; or a .safetensors / official checkpoint path"),
    Arg("device", "data", "auto", "auto, cpu, cuda or cuda:N"),
)
#: Scene changes: whether work may cross them.
SCENES = (Arg("sc", "int", 1, "1: never blend across a scene change (_SceneChangeNext/_SceneChangePrev); 0: ignore"),)


def _rate(multiplier: str, doc: str) -> tuple[Arg, ...]:
    """The frame-rate arguments: a multiplier, or an exact output rate instead of it."""
    return (
        Arg(multiplier, "float", 2.0 if multiplier == "factor" else 1.0, doc),
        Arg("method", "data", "", "empty: the best installed method" + (" for these scales" if multiplier == "tscale" else "")),
        Arg("fps_num", "int", 0, f"exact output frame rate numerator (instead of {multiplier})"),
        Arg("fps_den", "int", 1, "exact output frame rate denominator"),
    )


@dataclass(frozen=True)
class FunctionDef:
    """A public function: its VapourSynth name, task and arguments after ``clip`` (in positional order)."""

    name: str
    task: str
    args: tuple[Arg, ...]

    @property
    def python_name(self) -> str:
        return self.name.lower() if self.name.isupper() else _snake(self.name)


FUNCTIONS: dict[str, FunctionDef] = {
    "stvsr": FunctionDef("STVSR", "stvsr", (
        Arg("sscale", "float", 1.0, "spatial scale of width and height"),
        *_rate("tscale", "frame rate multiplier (≥ 1)"), *MODEL, *SCENES,
    )),
    "interpolate": FunctionDef("Interpolate", "interpolate", (
        *_rate("factor", "frame rate multiplier (≥ 1)"), *MODEL, *SCENES,
    )),
    "denoise": FunctionDef("Denoise", "denoise", (
        Arg("method", "data", "", "empty: the best installed method"), *MODEL,
    )),
    "inpaint": FunctionDef("Inpaint", "inpaint", (
        Arg("mask", "vnode", None, "GRAY clip (8-16 bit or float), non-zero (float: above 0) where pixels are "
            "filled; as long as the clip, or 1 frame for all"),
        Arg("method", "data", "", "empty: the best installed method"), *MODEL, *SCENES,
        Arg("dilate", "int", 0, "grow the mask by this many pixels first (masks drawn tight leave a fringe)"),
    )),
}


@dataclass(frozen=True)
class ClipInfo:
    """What validation needs to know about the input clip."""

    format_name: str  # "RGBS", "YUV420P8", ... ("" for a variable format)
    width: int  # 0 for variable size
    height: int
    num_frames: int
    fps: Fraction  # 0 for variable frame rate


@dataclass(frozen=True)
class Plan:
    """A validated call: what to build."""

    function: FunctionDef
    method: MethodSpec
    sscale: Fraction
    tscale: Fraction
    out_size: tuple[int, int]  # (height, width)
    in_size: tuple[int, int]  # (height, width) of the frames the engine reads: out_size after a native resize
    temporal: bool  # the frame rate changes (fps_out and durations follow the timemap)
    fps_out: Fraction  # 0 for a variable-rate clip left at its rate
    timemap: TimeMap
    weights: str
    device: str
    scene_change: bool
    params: tuple[tuple[str, Any], ...]
    native_resize: NativeResize | None
    dilate: int = 0  # Inpaint: pixels the mask grows by


def served_functions() -> list[tuple[FunctionDef, list[MethodSpec]]]:
    """The public functions with at least one installed method, with those methods (best first)."""
    found = []
    for fn in FUNCTIONS.values():
        methods = plugins.methods_for(fn.task)
        if methods:
            found.append((fn, methods))
    return found


def method_params(methods: list[MethodSpec]) -> list[Param]:
    """The union of the methods' extra parameters (the first declaration of a name wins)."""
    seen: dict[str, Param] = {}
    for method in methods:
        for param in method.params:
            seen.setdefault(param.name, param)
    return list(seen.values())


def arg_types(fn: FunctionDef, methods: list[MethodSpec] | None = None) -> dict[str, str]:
    """Every argument of ``fn`` after ``clip`` with its VapourSynth type: its own, then the extra parameters
    of ``methods`` (default: the installed methods of its task)."""
    types = {arg.name: arg.type for arg in fn.args}
    for p in method_params(plugins.methods_for(fn.task) if methods is None else methods):
        types.setdefault(p.name, p.type)
    return types


def signature(fn: FunctionDef, methods: list[MethodSpec]) -> str:
    """The VapourSynth argument string of ``fn`` with the extra parameters of ``methods``."""
    entries = [f"{name}:{kind}" + ("" if kind == "vnode" else ":opt") for name, kind in arg_types(fn, methods).items()]
    return ";".join(["clip:vnode", *entries]) + ";"


def plan(fn: FunctionDef, clip: ClipInfo, given: Mapping[str, Any]) -> Plan:
    """Validate a call of ``fn`` on ``clip`` with the arguments the user gave; choose the method.

    Clip arguments (Inpaint's ``mask``) are given as their ``ClipInfo``. The steps: the clip, the rates,
    the method, its parameters."""
    args = {arg.name: arg.default for arg in fn.args} | dict(given)
    _check_clip(fn, clip, args)
    sscale = _scale(args.get("sscale", 1.0), "sscale", minimum=None)
    rates = _rates(fn, clip, args, given)
    method = _choose(fn, str(args["method"]), sscale, rates.tscale)
    params = _params(fn, method, clip, args, given)
    out_size = (max(1, round(clip.height * sscale)), max(1, round(clip.width * sscale)))
    native_resize = method.native_resize(params) if method.native_resize and sscale != 1 else None
    return Plan(
        function=fn,
        method=method,
        sscale=sscale,
        tscale=rates.tscale,
        out_size=out_size,
        in_size=out_size if native_resize else (clip.height, clip.width),
        temporal=rates.temporal,
        fps_out=rates.fps_out,
        timemap=rates.timemap,
        weights=str(args["weights"]),
        device=str(args["device"]),
        scene_change=bool(int(args.get("sc", 1))),
        params=tuple(sorted(params.items())),
        native_resize=native_resize,
        dilate=_dilate(args),
    )


def _check_clip(fn: FunctionDef, clip: ClipInfo, args: Mapping[str, Any]) -> None:
    """The clip's format and size (and Inpaint's mask against it)."""
    if clip.format_name not in ("RGBS", "RGBH"):
        shown = clip.format_name or "of variable format"
        raise UsageError(f"the clip is {shown}, but vsinr takes RGBS or RGBH. Convert it first: {CONVERT_HINT}")
    if clip.width <= 0 or clip.height <= 0:
        raise UsageError("the clip has a variable frame size; make it constant first (e.g. core.resize.Bicubic)")
    if fn.task == "inpaint":
        _check_mask(args["mask"], clip)


@dataclass(frozen=True)
class _Rates:
    tscale: Fraction
    fps_out: Fraction  # 0 for a variable-rate clip left at its rate
    temporal: bool
    timemap: TimeMap


def _rates(fn: FunctionDef, clip: ClipInfo, args: Mapping[str, Any], given: Mapping[str, Any]) -> _Rates:
    """The output rate from the multiplier or the exact rate, and the time map from output to source."""
    tname = "tscale" if "tscale" in args else "factor"  # functions without either keep the rate
    fps_num, fps_den = int(args.get("fps_num", 0)), int(args.get("fps_den", 1))
    if fps_num:
        if tname in given:
            raise UsageError(f"give either {tname} or fps_num/fps_den, not both")
        if fps_num < 0 or fps_den <= 0:
            raise UsageError(f"fps_num and fps_den must be positive (got {fps_num}/{fps_den})")
    tscale = _scale(args.get(tname, 1.0), tname, minimum=1) if not fps_num else None

    temporal = fps_num > 0 or tscale != 1 or fn.task == "interpolate"
    if temporal and clip.fps <= 0:
        raise UsageError(
            "the clip has a variable frame rate, which temporal work cannot follow; give it a constant rate "
            "first: core.std.AssumeFPS(clip, fpsnum=24000, fpsden=1001)"
        )
    if fps_num:
        fps_out = Fraction(fps_num, fps_den)
    else:
        assert tscale is not None
        fps_out = clip.fps * tscale if temporal else clip.fps
    if temporal:
        tscale = fps_out / clip.fps
        if tscale < 1:
            raise UsageError(
                f"the output rate {fps_out} is below the clip's {clip.fps}; vsinr only raises frame rates "
                "(lower them with core.std.SelectEvery or vs.core.std.AssumeFPS)"
            )
        if clip.num_frames < 2:
            raise UsageError(f"temporal work needs at least 2 frames, the clip has {clip.num_frames}")
    assert tscale is not None
    timemap = TimeMap(clip.num_frames, clip.fps if temporal else Fraction(1), fps_out if temporal else Fraction(1))
    if timemap.num_frames > MAX_FRAMES:
        raise UsageError(f"the result would have {timemap.num_frames} frames, more than VapourSynth allows")
    return _Rates(tscale, fps_out, temporal, timemap)


def _params(fn: FunctionDef, method: MethodSpec, clip: ClipInfo, args: Mapping[str, Any],
            given: Mapping[str, Any]) -> dict[str, Any]:
    """The method's own parameters, checked one by one and then by the method (before anything loads)."""
    extra = {p.name: p for p in method.params}
    base = {arg.name for arg in fn.args}
    foreign = sorted(set(given) - base - set(extra))
    if foreign:
        raise UsageError(f"{', '.join(foreign)} is not a parameter of method {method.name!r}")
    params = {name: given.get(name, p.default) for name, p in extra.items()}
    for name, p in extra.items():
        problem = p.check(params[name])
        if problem:
            raise UsageError(problem)
    call = Call(fn.task, clip.width, clip.height, clip.num_frames)
    problem = method.check(params, call) if method.check else None
    if problem:
        raise UsageError(problem)
    if args["weights"] and not method.takes_weights:
        raise UsageError(f"method {method.name!r} has no weights; leave weights= empty")
    return params


def _dilate(args: Mapping[str, Any]) -> int:
    dilate = int(args.get("dilate", 0))
    if not 0 <= dilate <= 255:
        raise UsageError(f"dilate={dilate} must be from 0 to 255 pixels")
    return dilate


def _check_mask(mask: ClipInfo, clip: ClipInfo) -> None:
    if not mask.format_name.lower().startswith("gray"):
        shown = mask.format_name or "of variable format"
        raise UsageError(
            f"the mask is {shown}, but it must be GRAY (non-zero where pixels are filled); e.g. "
            "core.std.ShufflePlanes(mask, 0, vs.GRAY) or core.std.BlankClip(clip, format=vs.GRAY8)"
        )
    if mask.width <= 0 or mask.height <= 0:
        raise UsageError("the mask has a variable frame size; give it the clip's size (core.resize.Point)")
    if (mask.width, mask.height) != (clip.width, clip.height):
        raise UsageError(
            f"the mask is {mask.width}x{mask.height} but the clip is {clip.width}x{clip.height}; resize the mask "
            "with core.resize.Point"
        )
    if mask.num_frames not in (1, clip.num_frames):
        raise UsageError(
            f"the mask has {mask.num_frames} frames and the clip {clip.num_frames}; give one mask frame per clip "
            "frame, or a single frame for all"
        )


@dataclass(frozen=True)
class DecodePlan:
    """A validated ``Decode(path)`` call: the codec method that reads the file, and the device."""

    method: MethodSpec
    path: str
    device: str


def plan_decode(path: str, method: str = "", device: str = "auto") -> DecodePlan:
    """Validate ``Decode``'s arguments; the method is the named codec or the one whose suffix the file has."""
    codecs = plugins.codecs()
    if not path:
        raise UsageError("give the path of a file written by vsinr encode")
    if method:
        if method not in codecs:
            raise UsageError(f"{method!r} is not an installed neural codec (codecs: {', '.join(codecs) or 'none'})")
        chosen = codecs[method]
    else:
        by_suffix = [m for m in codecs.values() if path.lower().endswith(m.codec().suffix)]  # type: ignore[misc]
        if not by_suffix and len(codecs) != 1:
            suffixes = ", ".join(m.codec().suffix for m in codecs.values())  # type: ignore[misc]
            raise UsageError(f"{path!r} has none of the codecs' suffixes ({suffixes}); name the codec with method=")
        chosen = by_suffix[0] if by_suffix else next(iter(codecs.values()))
    return DecodePlan(chosen, path, device)


def _choose(fn: FunctionDef, name: str, sscale: Fraction, tscale: Fraction) -> MethodSpec:
    candidates = plugins.methods_for(fn.task)
    if name:
        chosen = next((m for m in candidates if m.name == name), None)
        if chosen is None:
            installed = ", ".join(m.name for m in candidates) or "none"
            raise UsageError(f"unknown method {name!r}; installed methods for {fn.name}: {installed}")
        why = chosen.tasks[fn.task].refusal(sscale, tscale)
        if why:
            able = [m.name for m in candidates if m.tasks[fn.task].refusal(sscale, tscale) is None]
            hint = f"; methods that can: {', '.join(able)}" if able else ""
            raise UsageError(f"method {name!r} cannot do this: {why}{hint}")
        return chosen
    for method in candidates:
        if method.tasks[fn.task].refusal(sscale, tscale) is None:
            return method
    reasons = "; ".join(f"{m.name}: {m.tasks[fn.task].refusal(sscale, tscale)}" for m in candidates)
    raise UsageError(f"no installed method can do these scales ({reasons})")


def _scale(value: Any, name: str, minimum: int | None) -> Fraction:
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise UsageError(f"{name} must be a positive number, got {value!r}")
    if minimum is not None and number < minimum:
        raise UsageError(
            f"{name} must be ≥ {minimum} (got {value!r}); vsinr only raises frame rates "
            "(lower them with core.std.SelectEvery)"
        )
    return Fraction(number).limit_denominator(1001)


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))
