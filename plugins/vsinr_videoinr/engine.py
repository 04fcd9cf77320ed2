"""The VideoINR engine: a pair of source frames → frames at any times between them, at any size.

Each pair is encoded once per window and every requested time is decoded from that one encoding, in
bands of rows; the host caches the window's outputs. Inputs whose sides are not multiples of 4 are
padded: with zeros, decoding the padded frame and cropping it, as the authors' demo does, for official
checkpoints (header ``padding: zeros``); repeating the edges and decoding only the real region for ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from vsinr.host.methods import PAIRS, Layout
from vsinr.ops import flow
from vsinr.runtime import backends, devices, weights
from vsinr_videoinr.arch import VideoINR, official_config
from vsinr_videoinr.flowinr import KIND, FlowINR, FlowINRConfig
from vsinr_videoinr.interp import KIND as INTERP_KIND
from vsinr_videoinr.interp import FlowInterp, FlowInterpConfig

DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "videoinr_flow.safetensors"


#: The architectures ``weights=`` may hold: the flow-guided spatial field, the flow-guided temporal
#: network, and the authors' VideoINR.
FAMILY = (
    weights.Architecture(KIND, lambda config: FlowINR(FlowINRConfig(**config))),
    weights.Architecture(INTERP_KIND, lambda config: FlowInterp(FlowInterpConfig(**config))),
    weights.Architecture("", lambda config: VideoINR(**config), official=official_config),
)


def load_model(path: str | Path = "") -> VideoINR | FlowINR | FlowInterp:
    """The network with weights from ``path`` (ours or the authors' ``latest_G.pth``; empty: the default):
    by the header's kind, the flow-guided spatial field (``flowinr.py``, kind ``flow``) or temporal
    network (``interp.py``, kind ``interp``), else VideoINR."""
    model = weights.load_model(Path(path) if path else DEFAULT_WEIGHTS, "videoinr", FAMILY)
    assert isinstance(model, VideoINR | FlowINR | FlowInterp)
    return model


def build_engine(path: str | Path, device: str, precision: str = "fp32", backend: str = "torch"
                 ) -> VideoINREngine | FlowINREngine | FlowInterpEngine:
    """The engine for the weights at ``path`` (empty: the default), by their header; ``backend``
    (``vsinr.runtime.backends``) is where the flow-guided spatial network runs."""
    model = load_model(path)
    if isinstance(model, FlowINR):
        return FlowINREngine(model, device, precision, backend=backend)
    if backend not in ("auto", "torch"):
        raise ValueError(f"backend={backend!r}: only the flow-guided spatial network runs outside torch; leave "
                         "backend at auto or torch for these weights")
    if isinstance(model, FlowInterp):
        return FlowInterpEngine(model, device, precision)
    return VideoINREngine(model, device, precision)


def _pending(frames: Sequence[torch.Tensor], times: Sequence[float], out: Sequence[torch.Tensor]) -> list[tuple[float, torch.Tensor]]:
    """Copy the source frames into the outputs at source instants of the source size; the (time, output)
    pairs left for the network."""
    size = tuple(out[0].shape[-2:])
    pending = []
    for t, target in zip(times, out, strict=True):
        if size == tuple(frames[0].shape[-2:]) and t in (0, 1):
            target.copy_(frames[int(t)])
        else:
            pending.append((float(t), target))
    return pending


class VideoINREngine:
    """Pair windows (see ``vsinr.host.methods.WindowedEngine``).

    It sees whole frames: the encoder's recurrent deformable alignment carries context across the frame
    and the release's warp grid is normalised to the whole output (tiles would differ from the whole
    frame: on the golden checkpoint of ``tests/data/golden``, max |d| 2.7e-2 with 24 pixels of overlap).
    Memory is bounded by decoding ``rows`` output rows at a time."""

    def __init__(self, model: VideoINR, device: str, precision: str = "fp32", chunk: int = 65536, rows: int = 64):
        self.model = model.to(device)
        self.device = torch.device(device)
        self.precision = precision
        self.chunk, self.rows = chunk, rows
        nf = model.conv_first.out_channels
        # float32 values held per output pixel: the high-resolution feature map, the ×4 input, the
        # coordinates, the output (a band's temporaries and the encoder at the source size are spread)
        self.layout = Layout(window=2, bytes_per_out_pixel=4 * (nf + 32))

    def render(self, frames: Sequence[torch.Tensor], times: Sequence[float], out: Sequence[torch.Tensor],
               cuts: frozenset[int] = frozenset()) -> None:
        h, w = frames[0].shape[-2:]
        size = (out[0].shape[-2], out[0].shape[-1])
        pending = _pending(frames, times, out)
        if not pending:
            return
        pair = torch.stack([f.float() for f in frames]).view(1, 6, h, w)
        pad_h, pad_w = -h % 4, -w % 4
        # the authors' demo pads with zeros and decodes the padded frame (cropped here); our own
        # configurations repeat the edges and decode only the real region
        official = self.model.padding == "zeros"
        if pad_h or pad_w:
            pair = F.pad(pair, (0, pad_w, 0, pad_h), mode="constant" if official else "replicate")
        pair = pair.view(1, 2, 3, h + pad_h, w + pad_w)
        decoded = (round(size[0] * (h + pad_h) / h), round(size[1] * (w + pad_w) / w)) if official else size
        with torch.inference_mode(), devices.autocast(self.device.type, self.precision):
            feat, inp = self.model.encode(pair)
            for t, target in pending:
                frame = self.model.decode(feat, inp, float(t), decoded, region=None if official else (h, w),
                                          chunk=self.chunk, rows=self.rows)
                target.copy_(frame[0, :, : size[0], : size[1]].clamp_(0, 1))


class FlowINREngine:
    """Pair windows for the flow-guided configuration: DIS flow between the pair at the source size, the
    frames moved along it to each time, the network's encoder and spatial field at the output size.
    The flow sees whole frames; the decoder works in bands of rows."""

    layout = PAIRS

    def __init__(self, model: FlowINR, device: str, precision: str = "fp32", rows: int = 256, backend: str = "torch"):
        self.model = model.to(device)
        self.device = torch.device(device)
        self.precision = precision
        self.rows = rows
        self.backend = backends.choose(backend, device, precision)
        self.encoder = self.decoder = None
        if self.backend != "torch":
            encoder, decoder = model.parts()
            self.encoder = backends.network(encoder, self.backend, device, precision=precision)
            self.decoder = backends.network(decoder, self.backend, device, precision=precision)

    def render(self, frames: Sequence[torch.Tensor], times: Sequence[float], out: Sequence[torch.Tensor],
               cuts: frozenset[int] = frozenset()) -> None:
        pending = _pending(frames, times, out)
        if not pending:
            return
        left, right = (f.float() for f in frames)
        h, w = left.shape[-2:]
        size = (out[0].shape[-2], out[0].shape[-1])
        correct = self.model.corrects(size[0] / h, size[1] / w)
        f01 = f10 = None
        with torch.inference_mode(), devices.autocast(self.device.type, self.precision):
            for t, target in pending:
                if t in (0, 1):
                    a_t = b_t = (left if t == 0 else right)[None]
                else:
                    if f01 is None or f10 is None:  # both set together
                        f01, f10 = flow.pair(left, right)
                    a_t, b_t = flow.moved(left[None], right[None], f01, f10, t)
                tt = torch.tensor([t], device=self.device)
                feat = self.model.encode(a_t, b_t, tt, self.encoder) if correct else None
                frame = self.model.decode(feat, a_t, b_t, tt, size, rows=self.rows, decoder=self.decoder)
                target.copy_(frame[0].clamp_(0, 1))


class FlowInterpEngine:
    """Pair windows for the flow-guided temporal network: DIS flow between the pair at the source size,
    the network's frame at each time between them (source frames at t = 0 and 1). At another output size
    the frame is then resized bicubically (the spatial field is ``FlowINREngine``'s)."""

    layout = PAIRS

    def __init__(self, model: FlowInterp, device: str, precision: str = "fp32"):
        self.model = model.to(device)
        self.device = torch.device(device)
        self.precision = precision

    def render(self, frames: Sequence[torch.Tensor], times: Sequence[float], out: Sequence[torch.Tensor],
               cuts: frozenset[int] = frozenset()) -> None:
        pending = _pending(frames, times, out)
        if not pending:
            return
        left, right = (f.float()[None] for f in frames)
        size = tuple(out[0].shape[-2:])
        f01 = f10 = None
        with torch.inference_mode(), devices.autocast(self.device.type, self.precision):
            for t, target in pending:
                if t in (0, 1):
                    frame = left if t == 0 else right
                else:
                    if f01 is None or f10 is None:  # both set together, once per pair
                        f01, f10 = flow.pair(left[0], right[0])
                    frame = self.model(left, right, f01, f10, torch.tensor([t], dtype=torch.float64, device=self.device))
                if tuple(frame.shape[-2:]) != size:
                    frame = F.interpolate(frame, size=size, mode="bicubic", align_corners=False)
                target.copy_(frame[0].clamp(0, 1))
