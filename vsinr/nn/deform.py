"""Modulated deformable convolution (DCNv2) in plain PyTorch: no compiled extension, CPU and GPU alike.

Conventions follow the DCNv2 CUDA code that ZSM and VideoINR were trained with (and torchvision's
``deform_conv2d``): for deformable group g and kernel tap k (row-major), the offset channels are
dy = 2·(g·K + k), dx = dy + 1; the mask channel is g·K + k; group g moves input channels
[g·C/G, (g+1)·C/G). Samples are bilinear, and every corner outside the image counts as zero.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def modulated_deform_conv2d(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    padding: int = 1,
    deformable_groups: int = 1,
) -> torch.Tensor:
    """Stride-1, dilation-1 modulated deformable convolution.

    x (N, C, H, W); offset (N, 2·G·K, H', W'); mask (N, G·K, H', W'); weight (O, C, kh, kw), K = kh·kw.
    """
    n, c, h, w = x.shape
    out_ch, _, kh, kw = weight.shape
    taps, groups = kh * kw, deformable_groups
    ho, wo = h + 2 * padding - kh + 1, w + 2 * padding - kw + 1
    offset = offset.view(n, groups, taps, 2, ho, wo)
    # Sampling positions in input pixels: output (y, x) + tap (i, j) - padding + learned offset.
    tap_y = torch.arange(kh, device=x.device, dtype=x.dtype).repeat_interleave(kw)
    tap_x = torch.arange(kw, device=x.device, dtype=x.dtype).repeat(kh)
    base_y = torch.arange(ho, device=x.device, dtype=x.dtype) - padding
    base_x = torch.arange(wo, device=x.device, dtype=x.dtype) - padding
    pos_y = base_y.view(1, 1, 1, ho, 1) + tap_y.view(1, 1, taps, 1, 1) + offset[:, :, :, 0]
    pos_x = base_x.view(1, 1, 1, 1, wo) + tap_x.view(1, 1, taps, 1, 1) + offset[:, :, :, 1]
    # grid_sample with align_corners=True maps -1..1 onto pixel centres 0..size-1, and zero padding
    # treats each out-of-image corner as 0: DCNv2's bilinear rule exactly.
    grid = torch.stack((2 * pos_x / max(w - 1, 1) - 1, 2 * pos_y / max(h - 1, 1) - 1), dim=-1)
    grid = grid.view(n * groups, taps * ho, wo, 2)
    sampled = F.grid_sample(
        x.reshape(n * groups, c // groups, h, w), grid, mode="bilinear", padding_mode="zeros", align_corners=True
    )  # (N·G, C/G, K·H', W')
    sampled = sampled.view(n, groups, c // groups, taps, ho, wo) * mask.view(n, groups, 1, taps, ho, wo)
    columns = sampled.reshape(n, c * taps, ho * wo)  # column index c·K + k, as weight.view(O, C·K)
    out = torch.matmul(weight.reshape(out_ch, c * taps), columns).view(n, out_ch, ho, wo)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


class DeformConvSep(nn.Module):
    """DCNv2 whose offsets and mask come from a separate feature map (ZSM's ``DCN_sep``).

    Parameters, in state_dict order: ``weight``, ``bias``, ``conv_offset_mask.{weight,bias}``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 1, deformable_groups: int = 8
    ):
        super().__init__()
        self.padding, self.deformable_groups = padding, deformable_groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        taps = kernel_size * kernel_size
        self.conv_offset_mask = nn.Conv2d(in_channels, deformable_groups * 3 * taps, kernel_size, 1, padding)
        bound = 1 / math.sqrt(in_channels * taps)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.zeros_(self.conv_offset_mask.weight)  # start as a plain convolution
        assert self.conv_offset_mask.bias is not None
        nn.init.zeros_(self.conv_offset_mask.bias)

    def forward(self, x: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        out = self.conv_offset_mask(feature)
        split = 2 * self.deformable_groups * self.weight.shape[-1] * self.weight.shape[-2]
        offset, mask = out[:, :split], torch.sigmoid(out[:, split:])
        return modulated_deform_conv2d(x, offset, mask, self.weight, self.bias, self.padding, self.deformable_groups)
