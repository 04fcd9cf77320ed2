"""Training material for space-time models: short windows of frames at known times in [0, 1].

Two sources, mixed by the trainer:
- ``VideoFolder``: real clips decoded with PyAV from a folder of videos. A window spans ``gap`` source
  frames, so its inner frames sit at times j/gap.
- ``SyntheticMotion``: random crops of real photos moved by smooth random flows (translation, rotation,
  zoom and a low-frequency field), with an occluding layer cut from another photo moving its own way.
  Any time in (0, 1) can be rendered exactly, which real clips cannot give.

Both return HR windows; ``degrade`` makes the low-resolution inputs the way the evaluation does
(MATLAB's antialiased bicubic, then 8-bit quantisation).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vsinr.io.clips import DECODED_SUFFIX, VIDEO_SUFFIXES, decode
from vsinr.ops.degrade import resize_matrix

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


class VideoFolder:
    """Every video under ``root``, decoded once to uint8 RGB in memory (frames (N, H, W, 3) per clip).

    ``.npz`` files holding such an array under ``frames`` count as clips too, so a machine without
    PyAV (a rented GPU, say) can train on clips decoded elsewhere (``vsinr.io.clips.decode_folder``).

    ``split`` keeps the first (``"train"``) or last (``"val"``) ``val_fraction`` of each clip's frames,
    so validation never sees training frames.
    """

    def __init__(self, root: str | Path, split: str = "train", val_fraction: float = 0.15,
                 max_side: int = 1024, max_gap: int = 8):
        self.clips: list[np.ndarray] = []
        self.max_gap = max_gap
        suffixes = VIDEO_SUFFIXES | {DECODED_SUFFIX}
        for path in sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in suffixes):
            frames = decode(path)
            if len(frames) < 3:
                continue
            cut = max(3, int(len(frames) * (1 - val_fraction)))
            clip = frames[:cut] if split == "train" else frames[cut - 2:]
            if max(clip.shape[1:3]) > max_side:  # keep memory and detail scale in check
                step = math.ceil(max(clip.shape[1:3]) / max_side)
                clip = clip[:, ::step, ::step]
            if len(clip) >= 3:
                self.clips.append(np.ascontiguousarray(clip))
        if not self.clips:
            raise FileNotFoundError(f"no readable videos with 3 or more frames under {str(root)!r}")

    def sample(self, rng: np.random.Generator, size: tuple[int, int], inner: int = 1,
               uniform: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """A window (inner + 2, 3, H, W) in [0, 1]: frames at 0, ``inner`` sorted times, and 1
        (equally spaced times when ``uniform``: every s-th frame, s at random)."""
        clip = self.clips[rng.integers(len(self.clips))]
        if uniform:
            stride = int(rng.integers(1, max(1, min(self.max_gap, len(clip) - 1) // (inner + 1)) + 1))
            gap = stride * (inner + 1)
            steps = np.arange(1, inner + 1) * stride
        else:
            gap = int(rng.integers(inner + 1, min(self.max_gap, len(clip) - 1) + 1)) if len(clip) > inner + 2 else inner + 1
            steps = np.sort(rng.choice(np.arange(1, gap), size=inner, replace=False))
        start = int(rng.integers(0, max(1, len(clip) - gap)))
        index = np.minimum([start, *(start + steps), start + gap], len(clip) - 1)  # short clips: hold
        h, w = size
        y0 = int(rng.integers(0, max(1, clip.shape[1] - h + 1)))
        x0 = int(rng.integers(0, max(1, clip.shape[2] - w + 1)))
        frames = torch.from_numpy(clip[index, y0:y0 + h, x0:x0 + w]).permute(0, 3, 1, 2).float() / 255
        if frames.shape[-2:] != (h, w):  # clip smaller than the patch: stretch
            frames = F.interpolate(frames, size=(h, w), mode="bilinear", align_corners=False)
        times = torch.tensor([0.0, *(steps / gap), 1.0], dtype=torch.float32)
        return frames, times


class VimeoSeptuplet:
    """The Vimeo-90K septuplet folder layout: ``root/sequences/NNNNN/NNNN/im1.png … im7.png`` with the
    sequence lists ``sep_trainlist.txt`` / ``sep_testlist.txt`` (``split`` "train" or "val") in ``root``.
    Frames are read from disk per sample (the set is 82 GB)."""

    def __init__(self, root: str | Path, split: str = "train"):
        root = Path(root)
        listing = root / ("sep_trainlist.txt" if split == "train" else "sep_testlist.txt")
        if not listing.is_file():
            raise FileNotFoundError(f"{str(listing)!r} not found: expected the Vimeo-90K septuplet layout")
        self.folders = [root / "sequences" / line.strip() for line in listing.read_text().splitlines() if line.strip()]
        if not self.folders:
            raise FileNotFoundError(f"{str(listing)!r} lists no sequences")

    def sample(self, rng: np.random.Generator, size: tuple[int, int], inner: int = 5,
               uniform: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        from PIL import Image

        if inner + 2 > 7 or (uniform and 6 % (inner + 1)):
            raise ValueError(f"a septuplet cannot give {inner} equally spaced inner frames")
        folder = self.folders[rng.integers(len(self.folders))]
        stride = 6 // (inner + 1)
        steps = np.arange(1, inner + 1) * stride if uniform else np.sort(rng.choice(np.arange(1, 6), inner, replace=False))
        index = [0, *steps, 6]
        images = [np.asarray(Image.open(folder / f"im{i + 1}.png").convert("RGB")) for i in index]
        clip = np.stack(images)
        h, w = size
        y0 = int(rng.integers(0, max(1, clip.shape[1] - h + 1)))
        x0 = int(rng.integers(0, max(1, clip.shape[2] - w + 1)))
        frames = torch.from_numpy(clip[:, y0:y0 + h, x0:x0 + w].copy()).permute(0, 3, 1, 2).float() / 255
        return frames, torch.tensor([0.0, *(steps / 6), 1.0], dtype=torch.float32)


class SyntheticMotion:
    """Windows rendered from photos under ``root``: a moving background and an occluding moving layer."""

    def __init__(self, root: str | Path, max_motion: float = 24.0, scales: tuple[float, ...] = (1.0, 0.6, 0.35)):
        from PIL import Image

        self.photos: list[torch.Tensor] = []
        self.max_motion = max_motion
        for path in sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES):
            with Image.open(path) as opened:
                image = opened.convert("RGB")
                # several detail scales of one photo: textures as fine or as coarse as real footage
                for scale in scales:
                    w, h = (round(image.width * scale), round(image.height * scale))
                    if min(w, h) >= 160:
                        small = image.resize((w, h), Image.Resampling.LANCZOS) if scale != 1 else image
                        self.photos.append(torch.from_numpy(np.asarray(small).copy()).permute(2, 0, 1))
        if not self.photos:
            raise FileNotFoundError(f"no photos of 160 pixels or more under {str(root)!r}")

    def _crop(self, rng: np.random.Generator, h: int, w: int) -> torch.Tensor:
        photo = self.photos[rng.integers(len(self.photos))]
        ph, pw = photo.shape[1:]
        if ph < h or pw < w:
            grown = photo.float().unsqueeze(0)
            factor = max(h / ph, w / pw) * 1.05
            photo = F.interpolate(grown, scale_factor=factor, mode="bilinear", align_corners=False)[0].clamp(0, 255)
            ph, pw = photo.shape[1:]
        y0, x0 = int(rng.integers(0, ph - h + 1)), int(rng.integers(0, pw - w + 1))
        return photo[:, y0:y0 + h, x0:x0 + w].float() / 255

    def _flow(self, rng: np.random.Generator, h: int, w: int, magnitude: float) -> torch.Tensor:
        """A smooth displacement field (2, h, w) in pixels over the whole window (time 0 → 1)."""
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        angle = rng.normal(0, 0.04)
        zoom = rng.normal(0, 0.04)
        shift = rng.normal(0, magnitude / 2, size=2)
        # affine part: rotation and zoom about the centre, in pixels
        u = shift[0] + (zoom * xs - angle * ys) * w / 2
        v = shift[1] + (zoom * ys + angle * xs) * h / 2
        # low-frequency random field: a 4x4 grid of random vectors, smoothly interpolated
        field = torch.from_numpy(rng.normal(0, magnitude / 6, size=(1, 2, 4, 4))).float()
        field = F.interpolate(field, size=(h, w), mode="bicubic", align_corners=True)[0]
        return torch.stack([u, v]).float() + field

    @staticmethod
    def _warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """image (C, h, w) sampled at x - flow (backward warp), border-clamped."""
        c, h, w = image.shape
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
        gx = (xs - flow[0] + 0.5) / w * 2 - 1
        gy = (ys - flow[1] + 0.5) / h * 2 - 1
        grid = torch.stack([gx, gy], -1).unsqueeze(0)
        return F.grid_sample(image.unsqueeze(0), grid, mode="bicubic", padding_mode="border", align_corners=False)[0]

    def sample(self, rng: np.random.Generator, size: tuple[int, int], inner: int = 1,
               uniform: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = size
        magnitude = self.max_motion * float(rng.uniform(0.1, 1.0))
        inner_times = np.arange(1, inner + 1) / (inner + 1) if uniform else sorted(rng.uniform(0.05, 0.95, size=inner))
        times = torch.tensor([0.0, *inner_times, 1.0], dtype=torch.float32)
        # the window is centred on the middle of the motion, so both ends move by half of it
        background, flow = self._crop(rng, h, w), self._flow(rng, h, w, magnitude)
        frames = [self._warp(background, (float(t) - 0.5) * flow) for t in times]
        if rng.random() < 0.6:  # an occluding layer: a soft-edged ellipse of another photo
            layer = self._crop(rng, h, w)
            ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
            cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
            ry, rx = rng.uniform(0.15, 0.4) * h, rng.uniform(0.15, 0.4) * w
            inside = 1 - ((ys - cy) / ry) ** 2 - ((xs - cx) / rx) ** 2
            mask = (inside * min(ry, rx) / 2).clamp(0, 1).unsqueeze(0)  # about 1 pixel of soft edge
            velocity = torch.from_numpy(rng.normal(0, magnitude / 2, size=2)).float().view(2, 1, 1)
            for i, t in enumerate(times):
                offset = (float(t) - 0.5) * velocity.expand(2, h, w)
                m = self._warp(mask, offset)
                frames[i] = frames[i] * (1 - m) + self._warp(layer, offset) * m
        return torch.stack(frames).clamp(0, 1), times


@lru_cache(maxsize=64)
def _matrices(h: int, w: int, lh: int, lw: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.from_numpy(resize_matrix(h, lh / h, lh)).float()
    cols = torch.from_numpy(resize_matrix(w, lw / w, lw)).float()
    return rows, cols


def degrade(frames: torch.Tensor, lr_size: tuple[int, int]) -> torch.Tensor:
    """(..., 3, H, W) → (..., 3, lh, lw): MATLAB's antialiased bicubic, then 8-bit quantisation."""
    rows, cols = _matrices(frames.shape[-2], frames.shape[-1], *lr_size)
    small = rows @ frames @ cols.T
    return (small.clamp(0, 1) * 255).round() / 255


def add_noise(frames: torch.Tensor, rng: np.random.Generator, sigma: float, impulse: float) -> torch.Tensor:
    """Gaussian noise then salt-and-pepper on a fraction ``impulse`` of pixel positions, frame by frame
    (the evaluation's ``vsinr.ops.degrade.add_noise``, on (..., 3, H, W) tensors)."""
    from vsinr.ops.degrade import add_noise as add_noise_np

    flat = frames.reshape(-1, *frames.shape[-3:])
    noisy = [torch.from_numpy(add_noise_np(f.numpy(), rng, sigma, impulse)) for f in flat]
    return torch.stack(noisy).view_as(frames)


def jpeg(frames: torch.Tensor, quality: int) -> torch.Tensor:
    """Each (3, H, W) frame of (..., 3, H, W) through 8-bit JPEG at ``quality`` (``vsinr.ops.degrade.jpeg``)."""
    from vsinr.ops.degrade import jpeg as jpeg_np

    flat = frames.reshape(-1, *frames.shape[-3:])
    return torch.stack([torch.from_numpy(jpeg_np(f.numpy(), quality)) for f in flat]).view_as(frames)


def augment(rng: np.random.Generator, frames: torch.Tensor, times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Random flips, transpose, colour-channel order and time reversal of a window (T, 3, H, W)."""
    if rng.random() < 0.5:
        frames = frames.flip(-1)
    if rng.random() < 0.5:
        frames = frames.flip(-2)
    if rng.random() < 0.5 and frames.shape[-1] == frames.shape[-2]:
        frames = frames.transpose(-1, -2)
    if rng.random() < 0.5:
        frames = frames[:, torch.from_numpy(rng.permutation(3))]
    if rng.random() < 0.5:
        frames, times = frames.flip(0), (1 - times).flip(0)
    return frames.contiguous(), times
