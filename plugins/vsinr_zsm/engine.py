"""The ZSM engines: a window of source frames → its 2·N-1 frames at ×4 (STVSR), or its N restored
frames (Denoise), computed once per window (the host caches the window's outputs); and, for weights of
the flow-guided configurations (``flowzsm.py``), a window around each source frame → that frame restored
(Denoise), or that frame and the one halfway to the next at ×4 (STVSR)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from vsinr.host.methods import Layout
from vsinr.nn.zsm import ZoomingSlowMo, official_config
from vsinr.runtime import backends, devices, weights
from vsinr_zsm.flowzsm import KIND, FlowZSM, FlowZSMConfig, window_inputs

WEIGHTS = Path(__file__).parent / "weights"
#: The bundled default for each (task, degradation).
DEFAULTS = {
    ("stvsr", "clean"): "zsm_x4x2.safetensors",
    ("stvsr", "noise"): "zsm_x4x2_noise.safetensors",
    ("stvsr", "jpeg"): "zsm_x4x2_jpeg.safetensors",
    ("denoise", "noise"): "zsm_x1_noise.safetensors",
    ("denoise", "jpeg"): "zsm_x1_jpeg.safetensors",
}


#: The architectures ``weights=`` may hold: the flow-guided configurations and the authors' Zooming SlowMo.
FAMILY = (
    weights.Architecture(KIND, lambda config: FlowZSM(FlowZSMConfig(**config))),
    weights.Architecture("", lambda config: ZoomingSlowMo(**config), official=official_config),
)


def load_model(path: str | Path, task: str, degradation: str) -> ZoomingSlowMo | FlowZSM:
    """The network for ``task`` ("stvsr" or "denoise") and ``degradation`` with weights from ``path``
    (ours or the authors' ``xiang2020zooming.pth``; empty: the bundled default).

    A header with ``kind: flow`` is a flow-guided configuration (``flowzsm.py``); anything else is the
    Zooming SlowMo architecture of ``vsinr.nn.zsm``."""
    path = Path(path) if path else WEIGHTS / DEFAULTS[(task, degradation)]
    model = weights.load_model(path, "zsm", FAMILY)
    assert isinstance(model, ZoomingSlowMo | FlowZSM)
    wanted = 4 if task == "stvsr" else 1
    scale, interpolates = (model.scale, model.scale > 1) if isinstance(model, FlowZSM) else (model.scale, model.interpolate)
    if scale != wanted or interpolates != (task == "stvsr"):
        made = "×4 ×2 space-time SR" if interpolates else "×1 restoration"
        raise weights.WeightsError(
            f"{str(path)!r} is a {made} model; {'STVSR' if task == 'stvsr' else 'Denoise'} needs "
            f"{'a ×4 ×2' if task == 'stvsr' else 'a ×1 restoration'} model"
        )
    return model


def build_engine(path: str | Path, task: str, degradation: str, device: str, precision: str = "fp32",
                 window: int = 0, backend: str = "torch") -> ZSMEngine | FlowZSMEngine:
    """The engine for the weights at ``path`` (empty: the default for ``task`` and ``degradation``):
    flow-guided or Zooming SlowMo by their header. ``window`` (0: the weights' own) is the number of
    source frames per window; ``backend`` (``vsinr.runtime.backends``) where a flow-guided network runs."""
    model = load_model(path, task, degradation)
    if isinstance(model, FlowZSM):
        if window not in (0, model.window):
            raise ValueError(f"window={window} does not fit these flow-guided weights: they make each output from "
                             f"the {model.slots} source frames around it; leave window at 0")
        return FlowZSMEngine(model, device, precision, backend=backend)
    if backend not in ("auto", "torch"):
        raise ValueError(f"backend={backend!r}: the authors' Zooming SlowMo runs in torch only (its deformable "
                         "convolutions do not export); leave backend at auto or torch")
    return ZSMEngine(model, device, precision, window or 4)


class ZSMEngine:
    """Windows of ``window`` source frames, overlapping by one (see ``vsinr.host.methods.WindowedEngine``).

    It sees whole frames: the recurrent deformable alignment carries context across the whole frame (a
    tile's output would differ from the whole frame's however wide its overlap: on the golden checkpoint
    of ``tests/data/golden``, max |d| 1e-2 with 26 pixels of overlap, 3e-5 with 64)."""

    def __init__(self, model: ZoomingSlowMo, device: str, precision: str = "fp32", window: int = 4):
        self.model = model.to(device)
        self.device = torch.device(device)
        self.precision = precision
        nf, frames = model.conv_first.out_channels, model.outputs(window)
        # float32 values per output pixel: the window's recurrent states and deformable samples at the
        # source size (spread over scale² output pixels), and one output frame's upsampling at a time
        self.layout = Layout(window=window, step=window - 1, bytes_per_out_pixel=4 * nf * (12 * frames // model.scale**2 + 3))

    def render(self, frames: Sequence[torch.Tensor], times: Sequence[float], out: Sequence[torch.Tensor],
               cuts: frozenset[int] = frozenset()) -> None:
        per_unit = 2 if self.model.interpolate else 1
        indices = [round(t * per_unit) for t in times]
        if any(abs(i - t * per_unit) > 1e-6 for i, t in zip(indices, times, strict=True)):
            raise ValueError(f"zsm renders only times on its grid of 1/{per_unit} source frames, got {list(times)}")
        h, w = frames[0].shape[-2:]
        x = torch.stack([f.float() for f in frames]).unsqueeze(0)
        pad_h, pad_w = -h % 4, -w % 4
        if pad_h or pad_w:  # at the bottom and right, with zeros (official) or repeated edges (ours)
            mode = "constant" if self.model.padding == "zeros" else "replicate"
            x = F.pad(x.view(1, -1, h, w), (0, pad_w, 0, pad_h), mode=mode).view(1, len(frames), 3, h + pad_h, w + pad_w)
        s = self.model.scale
        with torch.inference_mode(), devices.autocast(self.device.type, self.precision):
            features = self.model.features(x)
            base = self.model.base(x) if self.model.residual else None
            for index in sorted(set(indices)):  # one output frame at a time bounds the upsampler's memory
                frame = self.model.upsample(features[:, index : index + 1])[0, 0]
                if base is not None:
                    frame = frame + base[0, index]
                frame = frame[:, : s * h, : s * w].float().clamp_(0, 1)
                for i, target in zip(indices, out, strict=True):
                    if i == index:
                        target.copy_(frame)


class FlowZSMEngine:
    """Windows around each source frame c, one per frame (step 1): c - radius … c + radius for a restoring
    model, one frame more at ×4 ×2, whose window also makes the output halfway to c + 1. Windows are
    clamped at the ends of the clip, where the end frame repeats. DIS flow sees whole frames; the network
    runs in bands of rows."""

    def __init__(self, model: FlowZSM, device: str, precision: str = "fp32", rows: int = 128, backend: str = "torch"):
        self.model = model.to(device)
        self.device = torch.device(device)
        self.precision = precision
        self.rows = rows
        self.layout = Layout(window=model.window, lead=model.radius)
        self.backend = backends.choose(backend, device, precision)
        # a runtime runs the network whole: no bands of rows (their seams would need the halo anyway)
        self.correction = None if self.backend == "torch" else backends.network(model.part(), self.backend, device, precision=precision)
        if self.correction is not None:
            self.rows = 0

    def render(self, frames: Sequence[torch.Tensor], times: Sequence[float], out: Sequence[torch.Tensor],
               cuts: frozenset[int] = frozenset()) -> None:
        per_unit = 2 if self.model.scale > 1 else 1
        grid = [round(t * per_unit) for t in times]
        if any(abs(g - t * per_unit) > 1e-6 for g, t in zip(grid, times, strict=True)):
            what = "source frames and the middles between them" if per_unit > 1 else "source frames only"
            raise ValueError(f"zsm makes {what}, got times {list(times)}")
        x = torch.stack([f.float() for f in frames])
        with torch.inference_mode(), devices.autocast(self.device.type, self.precision):
            # frame by frame: the 3×3 median's patches of a whole window would be 9 windows of memory
            prefiltered, guides, hit = (torch.cat(parts) for parts in zip(*(self.model.prepare(f[None]) for f in x), strict=True))
            for g, target in zip(grid, out, strict=True):
                slots, moved, mask, halfway = window_inputs(prefiltered, guides, hit, g // per_unit, self.model.radius,
                                                            g % per_unit == 1, cuts)
                frame = self.model(slots[None], moved[None], mask[None], rows=self.rows,
                                   halfway=torch.tensor([float(halfway)], device=self.device), correction=self.correction)
                target.copy_(frame[0].float().clamp_(0, 1))
