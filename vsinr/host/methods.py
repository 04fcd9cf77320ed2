"""What a method plugin tells the host: its tasks, constraints, parameters and a lazy engine loader.

Nothing here imports torch; engines are built only when a filter is created.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import torch

VSType = Literal["int", "float", "data"]
EngineKind = Literal["windowed", "fitted"]
RequestField = Literal["task", "sscale", "tscale"]


@dataclass(frozen=True, kw_only=True)
class Param:
    """An extra argument of a method, exposed on every function of the tasks it serves."""

    name: str
    type: VSType
    default: int | float | str
    doc: str = ""
    choices: tuple[int | float | str, ...] = ()

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable, or None."""
        if self.choices and value not in self.choices:
            return f"{self.name}={value!r} is not one of {', '.join(map(repr, self.choices))}"
        return None


@dataclass(frozen=True, kw_only=True)
class TaskSupport:
    """How a method serves one task: its priority among methods and the scales it can do.

    ``sscales``/``tscales`` of None mean any positive scale; otherwise the exact allowed values.
    """

    priority: int = 0
    sscales: tuple[Fraction, ...] | None = None
    tscales: tuple[Fraction, ...] | None = None

    def refusal(self, sscale: Fraction, tscale: Fraction) -> str | None:
        """Why these scales cannot be done, or None when they can."""
        if self.sscales is not None and sscale not in self.sscales:
            return f"spatial scale {_fmt(sscale)} is not supported (it does {_fmt_all(self.sscales)})"
        if self.tscales is not None and tscale not in self.tscales:
            return f"time scale {_fmt(tscale)} is not supported (it does {_fmt_all(self.tscales)})"
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "priority": self.priority,
            "sscales": None if self.sscales is None else [_fmt(s) for s in self.sscales],
            "tscales": None if self.tscales is None else [_fmt(s) for s in self.tscales],
        }


@dataclass(frozen=True)
class Call:
    """What a method's ``check`` sees of a filter call besides its parameters: the task and the clip."""

    task: str
    width: int
    height: int
    frames: int


@dataclass(frozen=True, kw_only=True)
class EngineRequest:
    """Everything an engine is built from. ``call`` holds what the call asked (``task``, ``sscale``,
    ``tscale``) that the method reads, as listed in ``MethodSpec.reads`` (the host keeps only those), so
    that equal requests, which share one engine in a process, are equal whatever function or scales asked
    for them; ``read`` refuses a field the method did not list."""

    device: str  # resolved: "cpu", "cuda:0", ...
    half: bool  # compute in float16 (RGBH input on a GPU)
    weights: str  # "" for the method's bundled default
    params: tuple[tuple[str, Any], ...] = ()
    call: tuple[tuple[RequestField, Any], ...] = ()

    def param(self, name: str) -> Any:
        return dict(self.params)[name]

    def read(self, field: RequestField) -> Any:
        """The call's ``task`` (str), ``sscale`` or ``tscale`` (Fraction), when the method reads it."""
        found = dict(self.call)
        if field not in found:
            raise KeyError(f"the engine request holds no {field!r}: list it in the method's MethodSpec.reads")
        return found[field]


@dataclass(frozen=True)
class Layout:
    """Where a windowed engine's work lies and what it costs, in one place.

    ``window`` source frames are read (frame i of the window is at local time i); windows start every
    ``step`` source frames, ``lead`` frames before the times they serve (0: a window starts on the first
    source frame it serves; see ``vsinr.serving.timing.Windows``). ``bytes_per_out_pixel`` (0: negligible)
    is the engine's working memory per output pixel, besides the frames the host holds: the host refuses
    a frame size whose work cannot fit on the device. Engines see whole frames (motion is estimated on
    them) and bound their memory themselves, by working in bands of rows.
    """

    window: int
    step: int = 1
    lead: int = 0
    bytes_per_out_pixel: int = 0


#: A pair of consecutive source frames for each output between them.
PAIRS = Layout(window=2)


class WindowedEngine(Protocol):
    """An engine that turns a window of consecutive source frames into frames at times inside it."""

    layout: Layout

    def render(self, frames: Sequence[torch.Tensor], times: Sequence[float], out: Sequence[torch.Tensor],
               cuts: frozenset[int] = frozenset()) -> None:
        """Fill ``out[i]`` (3, H', W') with the frame at local time ``times[i]`` in [0, window-1].

        ``frames`` are the window's (3, H, W) tensors on the engine's device. Outputs are written in
        place (on the CPU they are the output frames' own memory), so an engine allocates nothing it
        does not need. ``cuts`` holds the window indices i with a scene change between frames i and
        i + 1 (when the user honours them): the host already holds the left frame at times inside
        such an interval; an engine that fuses several frames into one must not fuse across them.
        An engine that serves Inpaint also takes ``masks=`` (one (1, H, W) per frame, 1 where a pixel is
        to be filled); its times are the window's frames, and the host keeps every pixel outside the
        mask as the source has it.
        """
        ...


#: A fitted representation: its tensors and a JSON-ready configuration (what the disk cache stores).
Fitted = tuple[dict[str, "torch.Tensor"], dict[str, Any]]


class FittedEngine(Protocol):
    """An engine that fits a representation to a chunk of the clip itself and renders it at any time.

    The host splits the clip into chunks of ``chunk`` frames overlapping by ``overlap`` (see
    ``vsinr.serving.timing.Chunks``), further split at scene changes, and fits each piece once: on the first
    request of one of its frames, or never when the disk cache already holds it. ``key`` names
    everything besides the frames that a fit depends on (it is part of the cache key).
    """

    chunk: int
    overlap: int
    key: str

    def fit(self, frames: torch.Tensor, seed: int, log: Callable[[str], None], checkpoint: Path | None,
            mask: torch.Tensor | None = None) -> Fitted:
        """Fit ``frames`` (T, 3, H, W) in [0, 1] on the engine's device; deterministic for a given seed.

        ``mask`` (Inpaint only; T, 1, H, W) is 1 where a pixel is unknown (to be filled): those pixels
        must not influence the fit. ``checkpoint`` (None: no disk cache) is where the fit saves its
        progress and resumes from (``vsinr.runtime.optim.Run``)."""
        ...

    def render(self, fitted: Fitted, frames: torch.Tensor, times: Sequence[float], out: Sequence[torch.Tensor]) -> None:
        """Fill ``out[i]`` (3, H', W') with the piece at local time ``times[i]`` in [0, T-1]."""
        ...


class DecodedClip(Protocol):
    """A neural-codec file opened for decoding: any frame, in any order."""

    num_frames: int
    width: int
    height: int
    fps: Fraction

    def frame(self, index: int) -> torch.Tensor:
        """Frame ``index`` as (3, H, W) in [0, 1]."""
        ...


@dataclass(frozen=True, kw_only=True)
class EncodeOptions:
    """What ``vsinr encode`` and the benchmark ask of a neural codec; these are the one set of defaults."""

    size: str = "1.5M"  # model size: a preset such as 0.35M, 0.75M, 1.5M, 3M, or a parameter count
    epochs: int = 300  # fitting passes over the frames
    prune: float = 0.0  # share of the decoder's weights pruned by magnitude after fitting (the paper: 0.1)
    finetune: int = 30  # epochs of fine-tuning after pruning (none without pruning)
    device: str = "cpu"  # resolved torch device


class Codec(Protocol):
    """A method that stores a clip as a file (``vsinr encode``/``decode``). Errors reading a file are
    ``ValueError``s whose message names the file and what is wrong with it."""

    suffix: str

    def encode(self, frames: torch.Tensor, fps: Fraction, path: Path, options: EncodeOptions,
               log: Callable[[str], None]) -> Mapping[str, Any]:
        """Fit ``frames`` (T, 3, H, W) in [0, 1] and write them to ``path``; returns what it measured."""
        ...

    def open(self, path: Path, device: str) -> DecodedClip:
        ...


#: Where fitted methods keep what they fitted.
CACHE = Param(name="cache", type="data", default="",
              doc="folder for fitted chunks (empty: $VSINR_CACHE or ~/.cache/vsinr; off: keep them in memory only)")

#: The ``precision`` parameter of the learned methods.
PRECISION = Param(name="precision", type="data", default="auto",
                  doc="auto (fp16 for RGBH on CUDA, else fp32), fp32, fp16, bf16", choices=("auto", "fp32", "fp16", "bf16"))


#: The ``backend`` parameter of the learned methods (``vsinr.runtime.backends``).
BACKEND = Param(name="backend", type="data", default="auto",
                doc="where the network runs: auto (the fastest installed for the device), torch, ort (ONNX Runtime), "
                    "ov (OpenVINO, CPU), trt (TensorRT through ONNX Runtime, CUDA)",
                choices=("auto", "torch", "ort", "ov", "trt"))


def precision_for(request: EngineRequest, method: str) -> str:
    """The request's ``precision`` with ``auto`` resolved; half precisions need CUDA, except bf16 in
    OpenVINO on the CPU (ValueError otherwise)."""
    precision = request.param("precision")
    if precision == "auto":
        precision = "fp16" if request.half else "fp32"
    on_cpu = not request.device.startswith("cuda")
    if on_cpu and precision != "fp32" and not (precision == "bf16" and dict(request.params).get("backend") in ("auto", "ov")):
        raise ValueError(f"precision={precision!r} needs a CUDA device (on the CPU: precision='bf16' with "
                         f"backend='ov' or 'auto'); on the CPU {method} computes in fp32")
    return precision


#: A native resize the host applies before the engine: (resize function name, its extra arguments).
NativeResize = tuple[str, dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class MethodSpec:
    """A method as the host sees it."""

    name: str
    version: str
    summary: str
    tasks: Mapping[str, TaskSupport]
    load: Callable[[EngineRequest], WindowedEngine | FittedEngine]
    #: The kind of engine ``load`` returns: windows of source frames, or a fit to the clip itself.
    engine: EngineKind = "windowed"
    #: The request fields besides device, precision, weights and params that ``load`` reads.
    reads: frozenset[RequestField] = frozenset()
    params: tuple[Param, ...] = ()
    #: ``(params, call) → why they cannot work, or None``: the method's own checks (ranges, parameters
    #: that depend on each other or on the clip's size), run by ``vsinr.serving.tasks.plan`` when the filter is
    #: created, before ``load``.
    check: Callable[[Mapping[str, Any], Call], str | None] | None = None
    #: False for methods without weights: ``weights=`` is then refused instead of ignored.
    takes_weights: bool = True
    #: When set, the spatial scaling is done by VapourSynth's own resizer and the engine works at the
    #: output size (for classical methods, where zimg is both faster and the reference users know).
    native_resize: Callable[[Mapping[str, Any]], NativeResize] | None = None
    #: For methods that are also video codecs: builds the codec (imports torch lazily).
    codec: Callable[[], Codec] | None = None
    #: For methods with official checkpoints (``vsinr weights convert``): the checkpoint at a path as a
    #: model whose ``state_dict()`` and ``config`` are saved (imports torch lazily; ``WeightsError`` if unusable).
    convert: Callable[[Path], Any] | None = None
    #: For learned methods: their training recipes (``vsinr.training.recipe.Recipe`` instances, one per
    #: architecture), which ``vsinr train`` runs (imports torch lazily).
    training: Callable[[], Sequence[Any]] | None = None
    #: For learned methods whose networks run in a runtime: ``(weights, options) → network parts``
    #: (``vsinr.runtime.backends.Part``; ``weights`` "" for the default, ``options`` as ``vsinr export``
    #: takes them: ``task``, ``degradation``), for ``vsinr export`` (imports torch lazily).
    networks: Callable[[str, Mapping[str, str]], Sequence[Any]] | None = None

    def engine_request(self, request: EngineRequest) -> EngineRequest:
        """``request`` with only the call's fields this method's loader reads (the engine cache key)."""
        return dataclasses.replace(request, call=tuple((k, v) for k, v in request.call if k in self.reads))

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description (for ``vsinr list-plugins --json`` and ``Version()``)."""
        return {
            "name": self.name,
            "version": self.version,
            "summary": self.summary,
            "engine": self.engine,
            "tasks": {task: support.describe() for task, support in self.tasks.items()},
            "codec": self.codec is not None,
            "converts_weights": self.convert is not None,
            "exports": self.networks is not None,
            "params": [
                {"name": p.name, "type": p.type, "default": p.default, "doc": p.doc, "choices": list(p.choices)}
                for p in self.params
            ],
        }


def _fmt(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def _fmt_all(values: Sequence[Fraction]) -> str:
    return ", ".join(_fmt(v) for v in values)
