"""1x1 convolutions whose results do not depend on the number of CPU threads.

oneDNN, which runs torch's CPU convolutions, sums a 1x1 convolution's channels in an order that
depends on the thread count (a (1, 71, 256, 352) input differs by about 1e-6 between 1 and 2 threads),
so a worker process with fewer threads would render other bytes than a one-process run. The same
product as a matrix multiplication per pixel sums in a fixed order, and on CPU it is also faster.
"""

from __future__ import annotations

import torch
from torch import nn


class Pointwise(nn.Conv2d):
    """``nn.Conv2d(in_channels, out_channels, 1)``: the same parameters and state-dict keys, computed
    as a per-pixel matrix product."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        weight = self.weight.view(1, self.out_channels, self.in_channels).expand(b, -1, -1)
        pixels = x.reshape(b, self.in_channels, h * w)
        if self.bias is None:
            return torch.bmm(weight, pixels).view(b, self.out_channels, h, w)
        bias = self.bias.view(1, -1, 1).expand(b, -1, h * w)
        return torch.baddbmm(bias, weight, pixels).view(b, self.out_channels, h, w)
