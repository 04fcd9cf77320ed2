"""The VideoINR network, written from facts read in the authors' released code (no code copied).

A ZSM encoder turns two frames into features of [frame 0, middle, frame 1]; three SIRENs decode any
pixel at any time: a spatial INR (``feat_imnet``) builds a high-resolution feature map, a temporal INR
(``flow_imnet``) predicts two flows (towards frame 0 and frame 1), and ``encode_imnet`` turns the
features and pixels sampled at both warped positions into RGB.

Conventions of the released inference path, kept because they change the output:
- query coordinates are pixel centres in [-1, 1], ordered (y, x), clamped to ±(1 - 1e-6); samples use
  ``grid_sample(align_corners=False)`` with zero padding;
- the spatial INR reads the single nearest low-resolution cell (no local ensemble) and also sees t;
- the warp grid is built in the align_corners=True convention (linspace(-1, 1)) plus flow/((size-1)/2)
  but sampled with align_corners=False;
- the high-resolution RGB source is the input upsampled ×4 (bilinear) whatever the output scale
  (``hr_input="upsample4"``, the demo); training used the low-resolution input (``hr_input="lr"``).
The upsampler layers inherited from ZSM are registered (the checkpoint has them) but never used.

``residual=True`` is our own variant (the released model has it off): the RGB head predicts a correction
to the bicubic upsampling of the two frames blended at t, and its last layer and the flow head's start
at zero, so an untrained model already equals bicubic + blend. This makes small models trainable in
hours on a CPU; it adds no parameters, so the key set stays the release's. Our variants also warp on
exact pixel centres (``exact_grid=True``), which makes decoding a padded frame's real region consistent.
"""

from __future__ import annotations

from typing import Literal, cast

import torch
import torch.nn.functional as F
from torch import nn

from vsinr.nn import check_config, zsm
from vsinr.nn.zsm import ZoomingSlowMo

OMEGA = 30.0


def official_config(state: dict[str, torch.Tensor]) -> dict:
    """The configuration of an official checkpoint (the authors' ``LunaTokis``), read from its state dict
    alone: the released inference conventions, with the backbone's and the SIRENs' sizes of the tensors.
    The authors' class works only with nf 64 (its SIREN input widths are fixed), so only the groups,
    the block counts and the SIRENs' widths vary."""
    backbone = zsm.official_config(state)
    config = {**CONFIGS["released"], **{k: backbone[k] for k in ("groups", "front_blocks", "back_blocks")}}
    first, second = state.get("feat_imnet.net.0.linear.weight"), state.get("feat_imnet.net.2.linear.weight")
    if first is not None and second is not None:
        config["hidden"], config["wide"] = int(first.shape[0]), int(second.shape[0])
    return config

#: Model configurations by name. ``released`` is the authors' (11.31 M parameters, loads their
#: checkpoint); ``small`` is what our default weights use (trainable on a CPU, see the model card);
#: ``tiny`` is for tests.
CONFIGS: dict[str, dict] = {
    "released": {"nf": 64, "groups": 8, "front_blocks": 5, "back_blocks": 40, "hidden": 64, "wide": 256,
                 "residual": False, "hr_input": "upsample4", "exact_grid": False, "padding": "zeros"},
    "small": {"nf": 32, "groups": 4, "front_blocks": 3, "back_blocks": 8, "hidden": 64, "wide": 128,
              "residual": True, "hr_input": "lr", "exact_grid": True},
    "tiny": {"nf": 8, "groups": 2, "front_blocks": 1, "back_blocks": 1, "hidden": 16, "wide": 16,
             "residual": True, "hr_input": "lr", "exact_grid": True},
}
EDGE = 1 - 1e-6


class SineLayer(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.linear = nn.Linear(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(OMEGA * self.linear(x))


class Siren(nn.Module):
    """Sine layers then a plain linear output layer (keys ``net.{i}.linear.*`` and ``net.{last}.*``)."""

    def __init__(self, widths: list[int], out: int):
        super().__init__()
        layers: list[nn.Module] = [SineLayer(a, b) for a, b in zip(widths, widths[1:], strict=False)]
        self.net = nn.Sequential(*layers, nn.Linear(widths[-1], out))
        # SIREN initialisation (Sitzmann et al.): keeps sin(30·x) activations well spread, not chaotic
        with torch.no_grad():
            for i, layer in enumerate(self.net):
                linear = layer.linear if isinstance(layer, SineLayer) else layer
                assert isinstance(linear, nn.Linear)
                fan_in = linear.weight.shape[1]
                bound = 1 / fan_in if i == 0 else (6 / fan_in) ** 0.5 / OMEGA
                linear.weight.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def make_coord(height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """Pixel-centre coordinates (height·width, 2) in [-1, 1], (y, x) order, row-major."""
    ys = -1 + (2 * torch.arange(height, device=device, dtype=torch.float32) + 1) / height
    xs = -1 + (2 * torch.arange(width, device=device, dtype=torch.float32) + 1) / width
    return torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).view(-1, 2)


def _nearest_cells(n_out: int, n_region: int, n_in: int, device: torch.device) -> torch.Tensor:
    """Normalised centres of the input cells nearest to each output pixel along one axis.

    Worked out in float64 from pixel positions, with ties (output centres exactly on a cell border,
    e.g. at scale 2.5) going to the even cell as grid_sample's rounding does: the same cell whatever
    tile the pixel is decoded in.
    """
    u = (torch.arange(n_out, device=device, dtype=torch.float64) + 0.5) * (n_region / n_out)
    cell = torch.round(u - 0.5).clamp(0, n_in - 1)
    return (2 * cell + 1) / n_in - 1


def _sample(image: torch.Tensor, coord: torch.Tensor, mode: str) -> torch.Tensor:
    """image (B, C, H, W) at coord (B, Q, 2) in (y, x) → (B, Q, C)."""
    grid = coord.flip(-1).unsqueeze(1)
    return F.grid_sample(image, grid, mode=mode, align_corners=False).squeeze(2).transpose(1, 2)


class VideoINR(ZoomingSlowMo):
    """ZSM encoder + spatial, temporal and RGB SIRENs (defaults: the released 11.31 M configuration)."""

    def __init__(self, nf: int = 64, groups: int = 8, front_blocks: int = 5, back_blocks: int = 40,
                 hidden: int = 64, wide: int = 256, residual: bool = False,
                 hr_input: Literal["upsample4", "lr"] = "upsample4", exact_grid: bool = False,
                 padding: str = "edge"):
        check_config({"hidden": hidden, "wide": wide}, {"residual": residual, "exact_grid": exact_grid})
        if hr_input not in ("upsample4", "lr"):
            raise ValueError(f"hr_input must be 'upsample4' or 'lr', got {hr_input!r}")
        super().__init__(nf, groups, front_blocks, back_blocks, padding=padding)
        self.residual, self.hr_input, self.exact_grid = residual, hr_input, exact_grid
        #: what our weights files record, to rebuild this model
        self.config = {"nf": nf, "groups": groups, "front_blocks": front_blocks, "back_blocks": back_blocks,
                       "hidden": hidden, "wide": wide, "residual": residual, "hr_input": hr_input,
                       "exact_grid": exact_grid, "padding": padding}
        self.feat_imnet = Siren([3 * nf + 6 + 2 + 1, hidden, hidden, wide], nf)
        self.flow_imnet = Siren([nf + 3 * nf + 6 + 1, hidden, hidden, wide], 4)
        self.encode_imnet = Siren([2 * nf + 6 * nf + 12 + 1, hidden, hidden, wide, wide], 3)
        if residual:
            for head in (self.flow_imnet, self.encode_imnet):
                last = head.net[-1]
                assert isinstance(last, nn.Linear)
                nn.init.zeros_(last.weight)
                nn.init.zeros_(last.bias)

    def encode(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 2, 3, H, W) → features (B, 3·nf, H, W) of [frame 0, middle, frame 1] and the frames as (B, 6, H, W)."""
        if frames.shape[1] != 2:
            raise ValueError(f"VideoINR encodes pairs of frames, got {frames.shape[1]}")
        b, _, _, h, w = frames.shape
        features = self.features(frames)  # (B, 3, nf, H, W)
        return features.reshape(b, -1, h, w), frames.reshape(b, 6, h, w)

    def decode(
        self,
        feat: torch.Tensor,
        inp: torch.Tensor,
        t: float | torch.Tensor,
        size: tuple[int, int],
        region: tuple[int, int] | None = None,
        chunk: int = 65536,
        rows: int = 0,
    ) -> torch.Tensor:
        """The frame at time t ∈ [0, 1] (a number, or one per batch item) and size (HH, WW) from
        ``encode``'s outputs → (B, 3, HH, WW).

        ``region`` (h0, w0): the output covers only the top-left h0×w0 input pixels (the rest is padding
        that made the input divisible by 4). ``rows`` > 0 decodes that many output rows at a time: every
        step is per output pixel except the warps, which read whole maps, so the result is the same and
        memory holds one band's temporaries besides the high-resolution feature map.
        """
        b, _, h, w = feat.shape
        hh, ww = size
        h0, w0 = region or (h, w)
        dev, dt = feat.device, feat.dtype
        # output pixel centres in the output frame, and the same points in the (padded) input frame
        coord_o = make_coord(hh, ww, dev).to(dt).clamp(-EDGE, EDGE).expand(b, -1, -1)
        ratio_yx = torch.tensor([h0 / h, w0 / w], device=dev, dtype=dt)
        coord = (coord_o + 1) * ratio_yx - 1
        t = torch.as_tensor(t, device=dev, dtype=dt).reshape(-1, 1, 1).expand(b, 1, 1)
        step = rows if 0 < rows < hh else hh
        bands = [(y0, min(hh, y0 + step), slice(y0 * ww, min(hh, y0 + step) * ww)) for y0 in range(0, hh, step)]

        # spatial INR on the nearest low-resolution cell
        q_coord = torch.stack(torch.meshgrid(_nearest_cells(hh, h0, h, dev), _nearest_cells(ww, w0, w, dev),
                                             indexing="ij"), -1).view(1, -1, 2).to(dt).expand(b, -1, -1)
        rel = (coord - q_coord) * torch.tensor([h, w], device=dev, dtype=dt)
        hr_feat = feat.new_empty(b, cast(nn.Linear, self.feat_imnet.net[-1]).out_features, hh, ww)
        for y0, y1, q in bands:
            time = t.expand(b, q.stop - q.start, 1)
            spatial_in = torch.cat([_sample(feat, q_coord[:, q], "nearest"), _sample(inp, q_coord[:, q], "nearest"),
                                    rel[:, q], time], -1)
            hr_feat[:, :, y0:y1] = self._mlp(self.feat_imnet, spatial_in, chunk).transpose(1, 2).reshape(b, -1, y1 - y0, ww)

        hr_inp = F.interpolate(inp, scale_factor=4, mode="bilinear", align_corners=False) if self.hr_input == "upsample4" else inp
        # warp grids in the output frame: the release's linspace(-1, 1) base (pixel centres scaled by
        # n/(n-1)) with flow/((n-1)/2), or exact pixel centres with flow·2/n for our variants
        size_xy = torch.tensor([ww, hh], device=dev, dtype=dt)
        scale, unit = (1, 2 / size_xy) if self.exact_grid else (size_xy / (size_xy - 1), 2 / (size_xy - 1))
        ratio_xy = ratio_yx.flip(0)
        pair = F.interpolate(inp[..., :h0, :w0], size=(hh, ww), mode="bicubic", align_corners=False) if self.residual else None
        rgb = feat.new_empty(b, 3, hh, ww)
        for y0, y1, q in bands:
            time = t.expand(b, q.stop - q.start, 1)
            band_feat = hr_feat[:, :, y0:y1]
            # temporal INR: two flows in output pixels, towards frame 0 (channels 0-1) and frame 1 (2-3)
            temporal_in = torch.cat([band_feat.flatten(2).transpose(1, 2), _sample(feat, coord[:, q], "bilinear"),
                                     _sample(hr_inp, coord[:, q], "bilinear"), time], -1)
            flow = self._mlp(self.flow_imnet, temporal_in, chunk).transpose(1, 2).reshape(b, 4, y1 - y0, ww)
            base = coord_o[:, q].flip(-1).view(b, y1 - y0, ww, 2) * scale
            sampled = []
            for k in (0, 2):
                grid = (base + flow[:, k:k + 2].permute(0, 2, 3, 1) * unit).clamp(-EDGE, EDGE)  # (B, rows, WW, 2) in (x, y)
                grid_in = (grid + 1) * ratio_xy - 1
                sampled.append([
                    F.grid_sample(source, g, mode="bilinear", align_corners=False).flatten(2).transpose(1, 2)
                    for source, g in ((hr_feat, grid), (hr_inp, grid_in), (feat, grid_in))
                ])
            (f1, i1, l1), (f2, i2, l2) = sampled
            band = self._mlp(self.encode_imnet, torch.cat([f1, f2, l1, l2, i1, i2, time], -1), chunk)
            band = band.transpose(1, 2).reshape(b, 3, y1 - y0, ww)
            if pair is not None:
                # under autocast the bicubic result may be half while t stays float32: lerp needs one dtype
                band = band + torch.lerp(pair[:, :3, y0:y1], pair[:, 3:, y0:y1], t.unsqueeze(-1).to(pair.dtype))
            rgb[:, :, y0:y1] = band
        return rgb

    @staticmethod
    def _mlp(net: nn.Module, x: torch.Tensor, chunk: int) -> torch.Tensor:
        """Per-query MLP in chunks of queries (identical to one pass, bounded memory)."""
        return torch.cat([net(part) for part in x.split(chunk, dim=1)], 1)

    # not ZoomingSlowMo's (frames, indices): VideoINR decodes any times at any size from an encoded pair
    def forward(self, frames: torch.Tensor, times: list[float], size: tuple[int, int]  # type: ignore[override]
                ) -> list[torch.Tensor]:
        feat, inp = self.encode(frames)
        return [self.decode(feat, inp, t, size) for t in times]
