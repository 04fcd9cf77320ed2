"""Building blocks the networks share: the residual block, the zero-initialised output head, and the
runner that applies a convolutional network to bands of rows (bounded memory, the same result)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Activation = Literal["relu", "leaky"]


class ResBlock(nn.Module):
    """x + conv2(act(conv1(x))), 3×3 convolutions, no normalisation. ``leaky`` is LeakyReLU(0.1): a unit
    that a ReLU kills stops learning for good, which matters for small networks trained briefly."""

    def __init__(self, nf: int, activation: Activation = "relu"):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv2 = nn.Conv2d(nf, nf, 3, padding=1)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(x)
        y = F.relu(y) if self.activation == "relu" else F.leaky_relu(y, 0.1)
        return x + self.conv2(y)


def zero_head[L: nn.Conv2d | nn.Linear](layer: L) -> L:
    """``layer`` with its weights and bias set to zero: a network that ends in it starts as exactly the
    fixed base it corrects, so training only adds to that base."""
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def in_bands(network: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, rows: int, halo: int,
             scale: int = 1) -> torch.Tensor:
    """``network(x)`` computed on bands of ``rows`` input rows at a time, each with ``halo`` rows of
    context above and below (at least the network's receptive radius, so the result equals one pass);
    ``scale`` is the ratio of output to input rows. ``rows`` ≤ 0 runs one pass."""
    height = x.shape[-2]
    step = rows if 0 < rows < height else height
    out = []
    for y0 in range(0, height, step):
        lo, hi = max(0, y0 - halo), min(height, y0 + step + halo)
        top = (y0 - lo) * scale
        out.append(network(x[..., lo:hi, :])[..., top : top + min(step, height - y0) * scale, :])
    return torch.cat(out, -2) if len(out) > 1 else out[0]


def median3(x: torch.Tensor) -> torch.Tensor:
    """3×3 median of (N, C, H, W), edges repeated: the 19 exchanges of a sorting network that finds the
    middle of 9 values (exact, and much faster than sorting patches)."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    p = [padded[..., dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)]

    def order(i: int, j: int) -> None:
        p[i], p[j] = torch.minimum(p[i], p[j]), torch.maximum(p[i], p[j])

    for i, j in ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3), (5, 8),
                 (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2)):
        order(i, j)
    return p[4]
