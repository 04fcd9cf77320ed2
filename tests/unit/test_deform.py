"""Modulated deformable convolution against a direct per-sample computation of the DCNv2 definition."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vsinr.nn.deform import DeformConvSep, modulated_deform_conv2d


def bilinear_zero_outside(plane: torch.Tensor, y: float, x: float) -> float:
    height, width = plane.shape
    y0, x0 = math.floor(y), math.floor(x)
    total = 0.0
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < height and 0 <= xx < width:
                total += wy * wx * float(plane[yy, xx])
    return total


def reference(x, offset, mask, weight, bias, padding, groups):  # type: ignore[no-untyped-def]
    n, c, h, w = x.shape
    out_ch, _, kh, kw = weight.shape
    ho, wo = h + 2 * padding - kh + 1, w + 2 * padding - kw + 1
    out = torch.zeros(n, out_ch, ho, wo, dtype=torch.float64)
    per_group = c // groups
    for b in range(n):
        for oy in range(ho):
            for ox in range(wo):
                for ci in range(c):
                    g = ci // per_group
                    for i in range(kh):
                        for j in range(kw):
                            k = i * kw + j
                            dy = float(offset[b, g * 2 * kh * kw + 2 * k, oy, ox])
                            dx = float(offset[b, g * 2 * kh * kw + 2 * k + 1, oy, ox])
                            m = float(mask[b, g * kh * kw + k, oy, ox])
                            value = bilinear_zero_outside(x[b, ci], oy - padding + i + dy, ox - padding + j + dx) * m
                            out[b, :, oy, ox] += weight[:, ci, i, j].double() * value
    return out + bias.double().view(1, -1, 1, 1)


@pytest.mark.parametrize("groups", [1, 2])
def test_matches_the_definition(groups: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 4, 5, 6)
    offset = torch.randn(2, 2 * groups * 9, 5, 6) * 1.5  # pushes samples across the border too
    mask = torch.rand(2, groups * 9, 5, 6)
    weight, bias = torch.randn(3, 4, 3, 3), torch.randn(3)
    got = modulated_deform_conv2d(x, offset, mask, weight, bias, padding=1, deformable_groups=groups)
    torch.testing.assert_close(got.double(), reference(x, offset, mask, weight, bias, 1, groups), atol=1e-4, rtol=1e-4)


def test_zero_offsets_and_unit_mask_is_a_plain_convolution() -> None:
    torch.manual_seed(1)
    x, weight, bias = torch.randn(1, 16, 9, 7), torch.randn(8, 16, 3, 3), torch.randn(8)
    got = modulated_deform_conv2d(x, torch.zeros(1, 2 * 8 * 9, 9, 7), torch.ones(1, 8 * 9, 9, 7), weight, bias, 1, 8)
    torch.testing.assert_close(got, F.conv2d(x, weight, bias, padding=1), atol=1e-5, rtol=1e-5)


def test_integer_offsets_shift_the_input() -> None:
    x = torch.arange(30.0).view(1, 1, 5, 6)
    weight = torch.zeros(1, 1, 3, 3)
    weight[0, 0, 1, 1] = 1  # centre tap only: the output is the sample itself
    offset = torch.zeros(1, 18, 5, 6)
    offset[:, 2 * 4] = 1.0  # centre tap: dy = +1 (one row down)
    offset[:, 2 * 4 + 1] = -2.0  # dx = -2
    got = modulated_deform_conv2d(x, offset, torch.ones(1, 9, 5, 6), weight, None, 1, 1)
    expected = torch.zeros(5, 6)
    expected[:4, 2:] = x[0, 0, 1:, :4]  # beyond the image: zero
    torch.testing.assert_close(got[0, 0], expected)


def test_dcn_sep_keys_and_gradients() -> None:
    layer = DeformConvSep(64, 64, deformable_groups=8)
    shapes = {k: tuple(v.shape) for k, v in layer.state_dict().items()}
    assert list(shapes.items()) == [
        ("weight", (64, 64, 3, 3)),
        ("bias", (64,)),
        ("conv_offset_mask.weight", (216, 64, 3, 3)),
        ("conv_offset_mask.bias", (216,)),
    ]
    x, feature = torch.randn(1, 64, 6, 6, requires_grad=True), torch.randn(1, 64, 6, 6)
    # freshly initialised: offsets 0 and mask sigmoid(0) = 0.5, i.e. half a plain convolution
    torch.testing.assert_close(layer(x, feature), 0.5 * F.conv2d(x, layer.weight, padding=1) + layer.bias.view(1, -1, 1, 1),
                               atol=1e-5, rtol=1e-5)
    layer(x, feature).square().mean().backward()
    assert x.grad is not None and layer.conv_offset_mask.weight.grad is not None
