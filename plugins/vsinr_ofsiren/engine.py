"""Fitting flow-constrained SIRENs to a piece of observed frames, and rendering them at any time and size.

The conventions (coordinates, base, flow scaling, λ, patches) are written in the plugin's docstring
(``vsinr_ofsiren``); this module implements them.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F

from vsinr.ops.flow import intermediate, pairs, velocities
from vsinr.runtime import fitting, optim
from vsinr.runtime.fitting import FitError, check_finite
from vsinr_ofsiren.siren import Siren


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What a fit depends on (besides the frames): part of the cache key."""

    width: int
    layers: int  # linear layers in all, the output layer included
    omega: float  # ω of every sine layer (first and hidden)
    lam: float  # weight of the flow term
    steps: int
    batch: int  # points per step
    lr: float
    between: float  # share of flow-term points at times between observed frames (nearest frame's flow)
    base: str  # "warp", "linear", "cubic" or "none"
    patch: int  # pixels per patch side, one SIREN per patch; 0: one SIREN for the whole frame
    margin: int  # pixels by which patches extend into their neighbours (blended there)


PRESETS: dict[str, Settings] = {
    "fast": Settings(width=64, layers=4, omega=25.0, lam=0.1, steps=1500, batch=8192, lr=5e-4, between=0.5,
                     base="warp", patch=16, margin=4),
    # the paper's network: one SIREN for the whole frame, 6 linear layers of 720, ω 25, the clip itself
    "paper": Settings(width=720, layers=6, omega=25.0, lam=0.12, steps=15000, batch=65536, lr=1e-4, between=0.5,
                      base="none", patch=0, margin=0),
}

#: Catmull-Rom weights of the taps k-1, k, k+1, k+2 at offset s in [0, 1) after k, and their derivatives.
def _cubic(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    s2, s3 = s * s, s * s * s
    w = torch.stack([-s3 + 2 * s2 - s, 3 * s3 - 5 * s2 + 2, -3 * s3 + 4 * s2 + s, s3 - s2], -1) / 2
    dw = torch.stack([-3 * s2 + 4 * s - 1, 9 * s2 - 10 * s, -9 * s2 + 8 * s + 1, 3 * s2 - 2 * s], -1) / 2
    return w, dw


def _taps(tau: torch.Tensor, count: int, base: str = "cubic") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frame indices (N, 4) (clamped to the chunk), weights and time derivatives of the base at ``tau``.

    ``cubic``: Catmull-Rom. ``linear``: the blend of the two frames around ``tau``; its derivative is
    the slope between them, and the central difference at an observed frame (where the blend has a kink).
    """
    k = tau.floor().clamp(0, max(count - 2, 0))
    s = tau - k
    if base == "linear":
        zero = torch.zeros_like(s)
        w = torch.stack([zero, 1 - s, s, zero], -1)
        at_frame = (s == 0)[:, None]
        central, slope = torch.tensor([[-0.5, 0.0, 0.5, 0.0], [0.0, -1.0, 1.0, 0.0]], device=s.device)
        dw = torch.where(at_frame, central, slope)
    else:
        w, dw = _cubic(s)
    index = (k.long()[:, None] + torch.arange(-1, 3, device=tau.device)).clamp(0, count - 1)
    return index, w, dw


def _bilinear(table: torch.Tensor, size: tuple[int, int], k: torch.Tensor, y: torch.Tensor, x: torch.Tensor
              ) -> torch.Tensor:
    """Rows of ``table`` (K·H·W, C) read bilinearly at frame ``k``, float position (y, x), clamped to the frame."""
    height, width = size
    y, x = y.clamp(0, height - 1), x.clamp(0, width - 1)
    y0, x0 = y.floor().clamp(max=height - 2).long(), x.floor().clamp(max=width - 2).long()
    fy, fx = (y - y0)[:, None], (x - x0)[:, None]
    at = (k * height + y0) * width + x0
    top = table[at] * (1 - fx) + table[at + 1] * fx
    bottom = table[at + width] * (1 - fx) + table[at + width + 1] * fx
    return top * (1 - fy) + bottom * fy


def _flat(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """(K, C, H, W) → (K·H·W, C) on ``device``, so one gather reads all of a pixel's channels."""
    return t.float().permute(0, 2, 3, 1).reshape(-1, t.shape[1]).contiguous().to(device)


class Chunk:
    """The observed frames of one chunk, on the fitting device, with their flow and the base through them."""

    def __init__(self, frames: torch.Tensor, device: torch.device, base: str = "warp"):
        self.count, _, self.height, self.width = frames.shape
        if base == "warp" and min(self.height, self.width) < 2:
            base = "linear"  # (a warp needs two pixels per axis to interpolate between)
        self.device, self.kind = device, base
        self.frames = frames
        self.values = _flat(frames * 2 - 1, device)  # [-1, 1]

    @functools.cached_property
    def _flows(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Forward and backward flow, velocity with confidence (flat): computed when first needed (a
        render with a blend base needs none)."""
        forward, backward = pairs(self.frames.float().cpu())
        velocity, confidence = velocities(forward, backward)
        motion = torch.cat([velocity, confidence], 1)
        return _flat(forward, self.device), _flat(backward, self.device), _flat(motion, self.device)

    def _at(self, k: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.values[(k * self.height + y) * self.width + x]

    def warp(self, tau: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The motion-compensated base at float (τ, y, x), (N, 3), and its velocity (N, 2) as (u, v).

        Between observed frames k and k+1 (s = τ - k), the pixel is fetched from both along the flow
        from time τ, approximated from the flows at the same position (``vsinr.ops.flow.intermediate``, as
        in Super SloMo). The two are blended (1-s, s), so B is the frames themselves at observed times,
        and the velocity it implies, (1-s)·F₀₁ - s·F₁₀, runs from the forward flow at k to the negated
        backward flow at k+1.
        """
        size = (self.height, self.width)
        k = tau.floor().clamp(0, self.count - 2)
        s = (tau - k)[:, None]
        k = k.long()
        forward, backward, _ = self._flows
        f01 = _bilinear(forward, size, k, y, x)
        f10 = _bilinear(backward, size, k, y, x)
        to0, to1 = intermediate(f01, f10, s)
        value = ((1 - s) * _bilinear(self.values, size, k, y + to0[:, 1], x + to0[:, 0])
                 + s * _bilinear(self.values, size, k + 1, y + to1[:, 1], x + to1[:, 0]))
        return value, (1 - s) * f01 - s * f10

    def base(self, tau: torch.Tensor, y: torch.Tensor, x: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """At (τ, y, x) on the pixel grid: B and its change per frame along the motion, (N, 3) each; the
        motion (N, 2) as (u, v) pixels per frame and its confidence (N,) (the nearest observed frame's)."""
        nearest = tau.round().long().clamp(0, self.count - 1)
        motion = self._flows[2][(nearest * self.height + y) * self.width + x]
        confidence = motion[:, 2]
        if self.kind == "warp":
            yf, xf = y.float(), x.float()
            value, velocity = self.warp(tau, yf, xf)
            # its change along the motion: a central difference a tenth of a frame either side
            step = 0.1
            ahead, _ = self.warp(tau + step, yf + step * velocity[:, 1], xf + step * velocity[:, 0])
            behind, _ = self.warp(tau - step, yf - step * velocity[:, 1], xf - step * velocity[:, 0])
            return value, (ahead - behind) / (2 * step), velocity, confidence
        index, w, dw = _taps(tau, self.count, self.kind)
        xl, xr = (x - 1).clamp(min=0), (x + 1).clamp(max=self.width - 1)
        yu, yd = (y - 1).clamp(min=0), (y + 1).clamp(max=self.height - 1)
        value = torch.zeros(len(tau), 3, device=self.device)
        dt = torch.zeros_like(value)
        gx = torch.zeros_like(value)
        gy = torch.zeros_like(value)
        for i in range(4):
            k = index[:, i]
            centre = self._at(k, y, x)
            value += w[:, i, None] * centre
            dt += dw[:, i, None] * centre
            gx += w[:, i, None] * (self._at(k, y, xr) - self._at(k, y, xl)) / (xr - xl).clamp(min=1)[:, None]
            gy += w[:, i, None] * (self._at(k, yd, x) - self._at(k, yu, x)) / (yd - yu).clamp(min=1)[:, None]
        u, v = motion[:, 0], motion[:, 1]
        change = dt + gx * u[:, None] + gy * v[:, None]
        return value, change, motion[:, :2], confidence

    def level(self, tau: float) -> torch.Tensor:
        """B over the whole frame at time ``tau``: (3, H, W) in [-1, 1]."""
        if self.kind == "none":
            return torch.zeros(3, self.height, self.width, device=self.device)
        y, x = torch.meshgrid(torch.arange(self.height, device=self.device), torch.arange(self.width, device=self.device),
                              indexing="ij")
        y, x = y.flatten(), x.flatten()
        tau_ = torch.full((len(y),), float(tau), device=self.device)
        if self.kind == "warp":
            value, _ = self.warp(tau_, y.float(), x.float())
        else:
            index, w, _ = _taps(tau_[:1], self.count, self.kind)
            # four taps, so never sum()'s empty-case 0
            value = cast(torch.Tensor, sum(w[0, i] * self._at(index[0, i].expand_as(y), y, x) for i in range(4)))
        return value.T.reshape(3, self.height, self.width)


def layout(height: int, width: int, patch: int, margin: int) -> torch.Tensor:
    """Patches (count, 4) as (y0, y1, x0, x1): a grid of about ``patch``-pixel cores, each extended by
    ``margin`` pixels (clipped to the frame). ``patch`` 0 gives one patch for the whole frame."""
    def spans(size: int) -> list[tuple[int, int]]:
        n = 1 if patch <= 0 else max(1, round(size / patch))
        edges = [round(i * size / n) for i in range(n + 1)]
        return [(max(0, a - margin), min(size, b + margin)) for a, b in itertools.pairwise(edges)]
    return torch.tensor([(y0, y1, x0, x1) for y0, y1 in spans(height) for x0, x1 in spans(width)], dtype=torch.float32)


@contextlib.contextmanager
def _tf32(device: torch.device) -> Iterator[None]:
    """TF32 matmuls on CUDA for the fit (fp32 range, enough for the tangent path), restored after."""
    if device.type != "cuda":
        yield
        return
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def _normalise(value: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Pixel positions in [low, high - 1] → [-1, 1]."""
    return 2 * (value - low) / (high - low - 1).clamp(min=1) - 1


def fit(frames: torch.Tensor, settings: Settings, device: str, seed: int,
        log: Callable[[str], None] = lambda text: None, chunk: Chunk | None = None, checkpoint: Path | None = None,
        ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Fit the SIRENs to ``frames`` (T, 3, H, W) in [0, 1]; returns their state and configuration.
    ``chunk``: the frames' ``Chunk`` on ``device`` with ``settings.base``, when the caller has one.
    ``checkpoint``: saved at every progress report and resumed from (``vsinr.runtime.fitting``)."""
    dev = torch.device(device)
    count, _, height, width = frames.shape
    check_finite(frames)
    patches = layout(height, width, settings.patch, settings.margin)
    config = {"width": settings.width, "layers": settings.layers, "omega": settings.omega, "base": settings.base,
              "patches": patches.int().tolist(), "margin": settings.margin}
    generator = torch.Generator(device="cpu").manual_seed(seed)
    with fitting.seeded(seed):  # the networks' initialisation
        net = Siren(width=settings.width, layers=settings.layers, omega=settings.omega, count=len(patches),
                    zero_last=settings.base != "none").to(dev)
    if count < 2 or settings.steps == 0:
        return {k: v.detach().cpu() for k, v in net.state_dict().items()}, config
    if chunk is None:
        chunk = Chunk(frames, dev, settings.base)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    run = optim.Run(net, optimizer, settings.steps,
                    lambda step: settings.lr * 0.5 * (1 + math.cos(math.pi * step / settings.steps)),  # cosine
                    generator=generator, checkpoint=checkpoint, tag=optim.checkpoint_tag([asdict(settings), seed], frames),
                    log=log)
    run.resume()
    report = max(1, settings.steps // 10)
    per_patch = max(32, settings.batch // len(patches))
    shape = (len(patches), per_patch)
    y0, y1, x0, x1 = (patches[:, i : i + 1].expand(shape) for i in range(4))
    with _tf32(dev):
        while run.done < settings.steps:
            between = torch.rand(shape, generator=generator) < settings.between
            tau = torch.randint(0, count, shape, generator=generator).float()
            tau = torch.where(between, torch.rand(shape, generator=generator) * (count - 1), tau)
            # (float rounding can land on the far edge: clamp inside the patch)
            y = torch.minimum((y0 + torch.rand(shape, generator=generator) * (y1 - y0)).floor(), y1 - 1)
            x = torch.minimum((x0 + torch.rand(shape, generator=generator) * (x1 - x0)).floor(), x1 - 1)
            value, change, motion, confidence = chunk.base(tau.flatten().to(dev), y.flatten().long().to(dev),
                                                           x.flatten().long().to(dev))
            # one frame of motion in each patch's own normalised coordinates
            motion = motion.view(*shape, 2)
            tangent = torch.stack([
                torch.full_like(motion[..., 0], 2 / max(count - 1, 1)),
                2 * motion[..., 1] / (y1 - y0 - 1).clamp(min=1).to(dev),
                2 * motion[..., 0] / (x1 - x0 - 1).clamp(min=1).to(dev),
            ], -1)
            points = torch.stack([
                2 * tau / max(count - 1, 1) - 1, _normalise(y, y0, y1), _normalise(x, x0, x1),
            ], -1).to(dev)
            if settings.base == "none":  # the SIREN is the whole signal: B = 0
                target, change = value, torch.zeros_like(change)
            else:  # B equals the frames at observed times, so g must vanish there
                target = torch.zeros_like(value)
            g, dg = net(points, tangent if settings.lam > 0 else None)
            observed = ~between.flatten().to(dev)
            data = ((g.reshape(-1, 3) - target)[observed] ** 2).mean()
            loss = data
            if dg is not None:  # the change of f = B + g per frame along the motion should vanish
                loss = loss + settings.lam * (confidence[:, None] * (dg.reshape(-1, 3) + change).abs()).mean()
            try:
                run.step(loss)
            except optim.Diverged as exc:
                raise FitError(f"fitting diverged ({exc}); lower lr or use preset='fast'") from None
            if run.done % report == 0 or run.done == settings.steps:
                run.save()
                psnr = f", observed PSNR {-10 * math.log10(max(data.item() / 4, 1e-12)):.2f} dB" if settings.base == "none" else ""
                log(f"{run.progress()}, loss {loss.item():.5f}{psnr}")
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    if not all(torch.isfinite(v).all() for v in state.values()):
        raise FitError("fitting produced non-finite weights; lower lr or use preset='fast'")
    return state, config


def network(state: Mapping[str, torch.Tensor], config: Mapping[str, Any], device: str) -> Siren:
    """The fitted SIRENs from ``fit``'s state and configuration."""
    net = Siren(width=int(config["width"]), layers=int(config["layers"]), omega=float(config["omega"]),
                count=len(config["patches"]))
    net.load_state_dict(dict(state))
    return net.to(device).eval()


def _ramp(position: torch.Tensor, low: int, high: int, size: int, margin: int) -> torch.Tensor:
    """Blending weight along one axis: 1 in a patch's core, falling towards its inner edges."""
    weight = torch.ones_like(position)
    if margin > 0 and low > 0:
        weight = weight * ((position - low + 1) / (2 * margin + 1)).clamp(1e-3, 1)
    if margin > 0 and high < size:
        weight = weight * ((high - position) / (2 * margin + 1)).clamp(1e-3, 1)
    return weight


def render(net: Siren, config: Mapping[str, Any], chunk: Chunk, tau: float, out: torch.Tensor) -> None:
    """Write the fitted clip at chunk time ``tau`` into ``out`` (3, H', W') in [0, 1].

    ``chunk`` holds the observed frames (for the base, built with ``config["base"]``); at another output
    size the base is upsampled bicubically and the SIRENs are sampled at the output pixel centres.
    Patches are blended with weights that fall off across their overlaps.
    """
    height, width = chunk.height, chunk.width
    count = chunk.count
    out_h, out_w = out.shape[-2:]
    device = out.device
    level = chunk.level(tau)
    if (out_h, out_w) != (height, width):
        level = F.interpolate(level[None], size=(out_h, out_w), mode="bicubic", align_corners=False)[0]
    level = level.to(device)
    ys = (torch.arange(out_h, device=device, dtype=torch.float32) + 0.5) * (height / out_h) - 0.5
    xs = (torch.arange(out_w, device=device, dtype=torch.float32) + 0.5) * (width / out_w) - 0.5
    t = 2 * tau / max(count - 1, 1) - 1
    patches = [[int(v) for v in p] for p in config["patches"]]
    margin = max(0, int(config.get("margin", 0)))
    total = torch.zeros(3, out_h, out_w, device=device)
    weight = torch.zeros(out_h, out_w, device=device)
    with torch.inference_mode():
        for i, (y0, y1, x0, x1) in enumerate(patches):
            rows = ((ys >= (y0 if y0 > 0 else -1)) & (ys <= (y1 - 1 if y1 < height else height))).nonzero().flatten()
            cols = ((xs >= (x0 if x0 > 0 else -1)) & (xs <= (x1 - 1 if x1 < width else width))).nonzero().flatten()
            if not len(rows) or not len(cols):
                continue
            py, px = ys[rows], xs[cols]
            grid_y, grid_x = torch.meshgrid(py, px, indexing="ij")
            points = torch.stack([
                torch.full_like(grid_y, t),
                2 * (grid_y - y0) / max(y1 - y0 - 1, 1) - 1,
                2 * (grid_x - x0) / max(x1 - x0 - 1, 1) - 1,
            ], -1).reshape(1, -1, 3)
            g = net(points, only=i)[0][0].reshape(len(rows), len(cols), 3).permute(2, 0, 1)
            wy = _ramp(py, y0, y1, height, margin)
            wx = _ramp(px, x0, x1, width, margin)
            w = wy[:, None] * wx[None, :]
            r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
            total[:, r0:r1, c0:c1] += g * w
            weight[r0:r1, c0:c1] += w
    result = (level + total / weight.clamp(min=1e-12) + 1) / 2
    if not torch.isfinite(result).all():
        raise FitError("the fitted representation renders non-finite values; refit it (clear the cache)")
    out.copy_(result.clamp_(0, 1))


def settings_for(params: Mapping[str, Any]) -> Settings:
    """The preset named in ``params`` with the user's overrides (values ≤ 0 / negative keep the preset's)."""
    preset = PRESETS[params["preset"]]
    changes: dict[str, Any] = {}
    if int(params.get("patch", -1)) >= 0:
        changes["patch"] = int(params["patch"])
    for name in ("steps", "width", "layers", "batch"):
        if int(params.get(name, 0)) > 0:
            changes[name] = int(params[name])
    for name in ("omega", "lr"):
        if float(params.get(name, 0)) > 0:
            changes[name] = float(params[name])
    if float(params.get("lam", -1)) >= 0:
        changes["lam"] = float(params["lam"])
    if params.get("base"):
        changes["base"] = str(params["base"])
    return replace(preset, **changes)


class OFSirenEngine:
    """The host's fitted engine (``vsinr.host.methods.FittedEngine``) for one set of settings."""

    def __init__(self, settings: Settings, device: str, chunk: int, overlap: int, version: str):
        self.settings, self.device = settings, device
        self.chunk, self.overlap = chunk, overlap
        self.key = f"ofsiren {version} " + json.dumps(asdict(settings), sort_keys=True)
        self._ready = fitting.BuiltCache()  # per fitted state: its network and its Chunk (frames and flow)

    def fit(self, frames: torch.Tensor, seed: int, log: Callable[[str], None], checkpoint: Path | None = None,
            mask: torch.Tensor | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        if mask is not None:
            raise ValueError("ofsiren does not inpaint: it fits every pixel of the frames")
        chunk = Chunk(frames, torch.device(self.device), self.settings.base)
        state, config = fit(frames, self.settings, self.device, seed, log, chunk=chunk, checkpoint=checkpoint)
        self._ready.put(state, (network(state, config, self.device), chunk))  # rendering needs the same flow: no second DIS pass
        return state, config

    def render(self, fitted: tuple[dict[str, torch.Tensor], dict[str, Any]], frames: torch.Tensor,
               times: Sequence[float], out: Sequence[torch.Tensor]) -> None:
        state, config = fitted
        net, chunk = self._ready.get(state, lambda: (network(state, config, self.device),
                                                     Chunk(frames, torch.device(self.device), config["base"])))
        for tau, target in zip(times, out, strict=True):
            if float(tau).is_integer() and target.shape[-2:] == frames.shape[-2:]:
                target.copy_(frames[int(tau)])  # observed frames pass through untouched
            else:
                render(net, config, chunk, float(tau), target)
