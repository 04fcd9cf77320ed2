"""The lerp engine: a ``vsinr.host.methods.WindowedEngine`` over windows of two frames."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from vsinr.host.methods import Layout


class LerpEngine:
    # windows of the 2 source frames around the output times, one starting at every source frame, each
    # serving the times from its first frame to its second; a few float32 RGB temporaries per output pixel
    layout = Layout(window=2, step=1, lead=0, bytes_per_out_pixel=48)

    def __init__(self, sharpen: float, device: str):
        self.sharpen = sharpen
        self.device = device

    def render(self, frames: Sequence[torch.Tensor], times: Sequence[float], out: Sequence[torch.Tensor],
               cuts: frozenset[int] = frozenset()) -> None:
        size = tuple(out[0].shape[-2:])
        up = [self._resize(f, size) for f in frames]
        for t, target in zip(times, out, strict=True):
            # the host holds the left frame inside an interval with a scene change, so t is whole there
            i = min(int(t), len(up) - 1)
            image = up[i] if t == i else torch.lerp(up[i], up[i + 1], t - i)
            target.copy_(image.clamp(0, 1))

    def _resize(self, frame: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
        x = frame[None].float()
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bicubic", align_corners=False)
        if self.sharpen:
            blur = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
            x = x + self.sharpen * (x - blur)
        return x[0].to(frame.dtype)
