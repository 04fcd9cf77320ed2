"""The Zooming SlowMo network (Xiang et al., CVPR 2020), whose encoder VideoINR reuses.

Written from facts read in the authors' released code (no code copied); attribute names follow the released
checkpoints so that their state_dicts load with ``strict=True``. Frames go in as (B, N, 3, H, W) with
H and W divisible by 4; features come out for the 2N-1 frames [F0, I01, F1, I12, ...] and, through the
upsampler, ×4 frames.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vsinr.nn import check_config
from vsinr.nn.blocks import ResBlock, median3
from vsinr.nn.deform import DeformConvSep
from vsinr.nn.pointwise import Pointwise

#: Backbone sizes: the released model, ours for the CPU, and one for tests.
CONFIGS: dict[str, dict[str, int]] = {
    "released": {"nf": 64, "groups": 8, "front_blocks": 5, "back_blocks": 40},
    "small": {"nf": 32, "groups": 4, "front_blocks": 3, "back_blocks": 10},
    "tiny": {"nf": 8, "groups": 2, "front_blocks": 1, "back_blocks": 1},
}
#: How frames whose sides are not multiples of 4 are padded: ``zeros`` at the bottom and right, as the
#: authors' test script does (the configuration of every official checkpoint), or ``edge``, repeating
#: the last row and column (ours: no dark band for the network to see at the border).
PADDINGS = ("edge", "zeros")


def official_config(state: dict[str, torch.Tensor]) -> dict:
    """The configuration of an official checkpoint (the authors' ``LunaTokis(nf, nframes, groups,
    front_RBs, back_RBs)``), read from its state dict alone: any size of the authors' class loads."""
    def count(prefix: str) -> int:  # blocks 0 … n-1: one more than the highest index
        found = [k[len(prefix):].split(".")[0] for k in state if k.startswith(prefix)]
        return max((int(i) + 1 for i in found if i.isdigit()), default=0)

    released = CONFIGS["released"]
    first, offsets, hr = (state.get(k) for k in ("conv_first.weight", "pcd_align.L1_dcnpack_1.conv_offset_mask.weight",
                                                  "HRconv.weight"))
    return {
        "nf": int(first.shape[0]) if first is not None else released["nf"],
        "groups": int(offsets.shape[0]) // 27 if offsets is not None else released["groups"],
        "front_blocks": count("feature_extraction.") or released["front_blocks"],
        "back_blocks": count("recon_trunk.") or released["back_blocks"],
        "hr_nf": int(hr.shape[0]) if hr is not None else None,
        "padding": "zeros",
    }


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.1)


def _up2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def _conv(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, stride, kernel // 2)


class PCDAlign(nn.Module):
    """Pyramid, cascading-free deformable alignment of two 3-level feature pyramids, both ways.

    Branch ``_1`` aligns the first pyramid to the second, branch ``_2`` the reverse; the result is the
    two aligned L1 features concatenated (2·nf channels).
    """

    def __init__(self, nf: int = 64, groups: int = 8):
        super().__init__()
        for b in (1, 2):
            for level in (3, 2, 1):
                setattr(self, f"L{level}_offset_conv1_{b}", _conv(2 * nf, nf))
                setattr(self, f"L{level}_offset_conv2_{b}", _conv(nf if level == 3 else 2 * nf, nf))
                if level != 3:
                    setattr(self, f"L{level}_offset_conv3_{b}", _conv(nf, nf))
                setattr(self, f"L{level}_dcnpack_{b}", DeformConvSep(nf, nf, 3, 1, groups))
                if level != 3:
                    setattr(self, f"L{level}_fea_conv_{b}", _conv(2 * nf, nf))

    def _branch(self, b: int, fea1: list[torch.Tensor], fea2: list[torch.Tensor]) -> torch.Tensor:
        layer = lambda name: getattr(self, f"{name}_{b}")  # noqa: E731
        offset = _lrelu(layer("L3_offset_conv1")(torch.cat([fea1[2], fea2[2]], 1)))
        offset = _lrelu(layer("L3_offset_conv2")(offset))
        feature = _lrelu(layer("L3_dcnpack")(fea1[2], offset))
        for level in (2, 1):
            i = level - 1
            new_offset = _lrelu(layer(f"L{level}_offset_conv1")(torch.cat([fea1[i], fea2[i]], 1)))
            # the upsampled offset *feature* is doubled (not actual offsets), as in the released models
            new_offset = _lrelu(layer(f"L{level}_offset_conv2")(torch.cat([new_offset, _up2(offset) * 2], 1)))
            offset = _lrelu(layer(f"L{level}_offset_conv3")(new_offset))
            aligned = layer(f"L{level}_dcnpack")(fea1[i], offset)
            feature = layer(f"L{level}_fea_conv")(torch.cat([aligned, _up2(feature)], 1))
            if level == 2:
                feature = _lrelu(feature)
        return feature

    def forward(self, fea1: list[torch.Tensor], fea2: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([self._branch(1, fea1, fea2), self._branch(2, fea2, fea1)], 1)


class Pyramid(nn.Module):
    """L1 → [L1, L2 (½), L3 (¼)] with two strided and two plain convolutions (attribute names of ZSM)."""

    def __init__(self, nf: int = 64):
        super().__init__()
        self.fea_L2_conv1, self.fea_L2_conv2 = _conv(nf, nf, stride=2), _conv(nf, nf)
        self.fea_L3_conv1, self.fea_L3_conv2 = _conv(nf, nf, stride=2), _conv(nf, nf)

    def pyramid(self, l1: torch.Tensor) -> list[torch.Tensor]:
        l2 = _lrelu(self.fea_L2_conv2(_lrelu(self.fea_L2_conv1(l1))))
        l3 = _lrelu(self.fea_L3_conv2(_lrelu(self.fea_L3_conv1(l2))))
        return [l1, l2, l3]


class EasyPCD(Pyramid):
    """Builds both pyramids itself, aligns them and fuses to nf channels (used inside the ConvLSTM)."""

    def __init__(self, nf: int = 64, groups: int = 8):
        super().__init__(nf)
        self.pcd_align = PCDAlign(nf, groups)
        self.fusion = Pointwise(2 * nf, nf)

    def forward(self, f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        return self.fusion(self.pcd_align(self.pyramid(f1), self.pyramid(f2)))


class ConvLSTMCell(nn.Module):
    def __init__(self, nf: int = 64):
        super().__init__()
        self.conv = _conv(2 * nf, 4 * nf)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        i, f, o, g = torch.split(self.conv(torch.cat([x, h], 1)), x.shape[1], dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class DeformableConvLSTM(nn.Module):
    """One ConvLSTM layer whose previous state is deformably aligned to each new input first."""

    def __init__(self, nf: int = 64, groups: int = 8):
        super().__init__()
        self.cell_list = nn.ModuleList([ConvLSTMCell(nf)])
        self.pcd_h, self.pcd_c = EasyPCD(nf, groups), EasyPCD(nf, groups)

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        """(B, T, nf, H, W) → hidden states (B, T, nf, H, W); the state starts at zero."""
        h = c = torch.zeros_like(sequence[:, 0])
        outputs = []
        for t in range(sequence.shape[1]):
            x = sequence[:, t]
            h, c = self.cell_list[0](x, self.pcd_h(x, h), self.pcd_c(x, c))
            outputs.append(h)
        return torch.stack(outputs, 1)


class BiDeformableConvLSTM(nn.Module):
    """The same DeformableConvLSTM run forwards and on the reversed sequence, fused by a 1×1 conv."""

    def __init__(self, nf: int = 64, groups: int = 8):
        super().__init__()
        self.forward_net = DeformableConvLSTM(nf, groups)
        self.conv_1x1 = Pointwise(2 * nf, nf)

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        forward = self.forward_net(sequence)
        backward = self.forward_net(sequence.flip(1)).flip(1)
        b, t, nf, h, w = forward.shape
        fused = self.conv_1x1(torch.cat([forward, backward], 2).view(b * t, 2 * nf, h, w))
        return fused.view(b, t, nf, h, w)


class ZoomingSlowMo(Pyramid):
    """ZSM's ``LunaTokis``: N frames → 2N-1 frames at ×4 (defaults: the released 11.10 M configuration).

    Our variants add three switches, all off in the released model:
    - ``scale=1``: restoration at the source size; the PixelShuffle upsampler is left out and
      ``HRconv``/``conv_last`` work on the trunk's features directly.
    - ``interpolate=False``: every input frame is an output and no middle features are synthesised
      (N frames → N frames; no ``pcd_align``/``fusion``).
    - ``residual=True``: the network predicts a correction of a fixed base (bicubic ×``scale`` of each
      input frame, the mean of its neighbours' for a synthesised middle frame), and its last layer
      starts at zero, so an untrained model is that base and training only has to add what it learns.
    - ``prefilter="median3"``: the base is made from 3×3-median-filtered inputs, which removes most
      salt-and-pepper impulses before anything is learned (for the noise-restoring models).
    """

    def __init__(self, nf: int = 64, groups: int = 8, front_blocks: int = 5, back_blocks: int = 40,
                 scale: int = 4, interpolate: bool = True, residual: bool = False, prefilter: str = "none",
                 hr_nf: int | None = None, padding: str = "edge"):
        check_config({"nf": nf, "groups": groups, **({} if hr_nf is None else {"hr_nf": hr_nf})},
                     {"interpolate": interpolate, "residual": residual},
                     {"front_blocks": front_blocks, "back_blocks": back_blocks})
        if scale not in (1, 4):
            raise ValueError(f"scale must be 4 (space-time SR) or 1 (restoration), got {scale}")
        if prefilter not in ("none", "median3"):
            raise ValueError(f"prefilter must be 'none' or 'median3', got {prefilter!r}")
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        hr_nf = nf if hr_nf is None else hr_nf
        if scale == 1 and hr_nf != nf:
            raise ValueError(f"a restoring model (scale 1) has no upsampler, so hr_nf must equal nf ({nf}), got {hr_nf}")
        super().__init__(nf)  # the fea_L* layers: keys come in another order than the release, names match
        self.config: dict[str, Any] = {"nf": nf, "groups": groups, "front_blocks": front_blocks, "back_blocks": back_blocks,
                       "scale": scale, "interpolate": interpolate, "residual": residual, "prefilter": prefilter,
                       "hr_nf": hr_nf, "padding": padding}
        self.scale, self.interpolate, self.residual, self.prefilter = scale, interpolate, residual, prefilter
        self.padding = padding
        self.conv_first = _conv(3, nf)
        self.feature_extraction = nn.Sequential(*[ResBlock(nf) for _ in range(front_blocks)])
        if interpolate:
            self.pcd_align = PCDAlign(nf, groups)
            self.fusion = Pointwise(2 * nf, nf)
        self.ConvBLSTM = BiDeformableConvLSTM(nf, groups)
        self.recon_trunk = nn.Sequential(*[ResBlock(nf) for _ in range(back_blocks)])
        if scale == 4:  # the release's upsampler ends in 64 channels whatever nf (hr_nf 64)
            self.upconv1, self.upconv2 = _conv(nf, 4 * nf), _conv(nf, 4 * hr_nf)
        self.HRconv, self.conv_last = _conv(hr_nf, hr_nf), _conv(hr_nf, 3)
        if residual:
            nn.init.zeros_(self.conv_last.weight)
            assert self.conv_last.bias is not None
            nn.init.zeros_(self.conv_last.bias)

    def outputs(self, n: int) -> int:
        """Output frames for n input frames."""
        return 2 * n - 1 if self.interpolate else n

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, N, 3, H, W) → (B, T, nf, H, W): input frames and (when interpolating) synthesised middle
        frames between them, refined by the recurrent and trunk blocks."""
        b, n, _, h, w = frames.shape
        if h % 4 or w % 4:
            raise ValueError(f"frame size {w}x{h} must be divisible by 4 (pad first)")
        l1 = self.feature_extraction(_lrelu(self.conv_first(frames.reshape(b * n, 3, h, w))))
        if self.interpolate:
            levels = [level.view(b, n, *level.shape[1:]) for level in self.pyramid(l1)]
            sequence = []
            for k in range(n - 1):
                sequence.append(levels[0][:, k])
                middle = self.pcd_align([lv[:, k] for lv in levels], [lv[:, k + 1] for lv in levels])
                sequence.append(self.fusion(middle))
            sequence.append(levels[0][:, n - 1])
            stacked = torch.stack(sequence, 1)
        else:
            stacked = l1.view(b, n, *l1.shape[1:])
        refined = self.ConvBLSTM(stacked)
        t, nf = refined.shape[1], refined.shape[2]
        return self.recon_trunk(refined.reshape(b * t, nf, h, w)).view(b, t, nf, h, w)

    def upsample(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, nf, H, W) → (B, T, 3, scale·H, scale·W), without the residual base."""
        b, t, nf, h, w = features.shape
        x = features.reshape(b * t, nf, h, w)
        if self.scale == 4:
            x = _lrelu(F.pixel_shuffle(self.upconv1(x), 2))
            x = _lrelu(F.pixel_shuffle(self.upconv2(x), 2))
        x = self.conv_last(_lrelu(self.HRconv(x)))
        return x.view(b, t, 3, self.scale * h, self.scale * w)

    def base(self, frames: torch.Tensor) -> torch.Tensor:
        """The residual base for (B, N, 3, H, W) inputs: (B, T, 3, scale·H, scale·W)."""
        b, n, c, h, w = frames.shape
        up = median3(frames.reshape(b * n, c, h, w)).view_as(frames) if self.prefilter == "median3" else frames
        if self.scale != 1:
            up = F.interpolate(up.reshape(b * n, c, h, w), scale_factor=self.scale, mode="bicubic",
                               align_corners=False).view(b, n, c, self.scale * h, self.scale * w)
        if not self.interpolate:
            return up
        sequence = up.new_empty(b, 2 * n - 1, *up.shape[2:])
        sequence[:, 0::2] = up
        sequence[:, 1::2] = (up[:, :-1] + up[:, 1:]) / 2
        return sequence

    def forward(self, frames: torch.Tensor, indices: list[int] | None = None) -> torch.Tensor:
        """(B, N, 3, H, W) → (B, T, 3, scale·H, scale·W), or only the outputs at ``indices``."""
        features = self.features(frames)
        if indices is not None:
            features = features[:, indices]
        out = self.upsample(features)
        if not self.residual:
            return out
        base = self.base(frames)
        return out + (base if indices is None else base[:, indices])
