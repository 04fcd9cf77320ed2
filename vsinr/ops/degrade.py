"""The degradations of the evaluation protocol, on float RGB frames (3, H, W) in [0, 1].

``imresize`` is MATLAB's ``imresize(..., 'bicubic')``: Keys cubic with a = -0.5, the kernel widened by
1/scale when shrinking (antialiasing), weights normalised per output pixel, symmetric edges, and an
output size of ceil(scale · size).
"""

from __future__ import annotations

import io
import math

import numpy as np


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    near = (1.5 * ax**3 - 2.5 * ax**2 + 1) * (ax <= 1)
    far = (-0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return near + far


def resize_matrix(length: int, scale: float, out_length: int | None = None) -> np.ndarray:
    """The (out_length, length) matrix that resizes one axis the way MATLAB does."""
    out_length = out_length or math.ceil(length * scale)
    width = 4.0 / scale if scale < 1 else 4.0
    u = np.arange(1, out_length + 1) / scale + 0.5 * (1 - 1 / scale)  # input coordinate, 1-based
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    distance = u[:, None] - indices
    weights = scale * _cubic(scale * distance) if scale < 1 else _cubic(distance)
    weights /= weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(length), np.arange(length - 1, -1, -1)])  # symmetric edges
    columns = mirror[(indices.astype(np.int64) - 1) % (2 * length)]
    matrix = np.zeros((out_length, length))
    for tap in range(taps):
        np.add.at(matrix, (np.arange(out_length), columns[:, tap]), weights[:, tap])
    return matrix


def imresize(image: np.ndarray, scale: float) -> np.ndarray:
    """Resize a (C, H, W) or (H, W) image by ``scale`` with MATLAB's antialiased bicubic."""
    rows = resize_matrix(image.shape[-2], scale)
    cols = resize_matrix(image.shape[-1], scale)
    out = np.einsum("ij,...jk,lk->...il", rows, image.astype(np.float64), cols, optimize=True)
    return out.astype(np.float32)


def modcrop(frame: np.ndarray, modulo: int) -> np.ndarray:
    """Crop bottom and right so height and width are multiples of ``modulo``."""
    h, w = frame.shape[-2] - frame.shape[-2] % modulo, frame.shape[-1] - frame.shape[-1] % modulo
    return frame[..., :h, :w]


def add_noise(frame: np.ndarray, rng: np.random.Generator, sigma: float = 10 / 255, impulse: float = 0.1) -> np.ndarray:
    """Gaussian noise of std ``sigma``, then salt-and-pepper on a fraction ``impulse`` of pixel positions
    (half white, half black, all channels), as in Zooming SlowMo's restoration setting."""
    noisy = np.clip(frame + rng.normal(0.0, sigma, frame.shape).astype(np.float32), 0.0, 1.0)
    hit = rng.random(frame.shape[-2:]) < impulse
    salt = rng.random(frame.shape[-2:]) < 0.5
    noisy[:, hit & salt] = 1.0
    noisy[:, hit & ~salt] = 0.0
    return noisy


def jpeg(frame: np.ndarray, quality: int) -> np.ndarray:
    """Compress and decompress as 8-bit JPEG (4:2:0) at ``quality``."""
    from PIL import Image

    pixels = np.round(np.clip(frame, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    return decoded.transpose(2, 0, 1).astype(np.float32) / 255.0


def hole_masks(height: int, width: int, rng: np.random.Generator, size: int = 50, frames: int = 1
               ) -> dict[str, np.ndarray]:
    """Boolean masks of 50×50 holes: five fixed positions (centre and the four quadrant centres), ten
    random ones, both (H, W) for every frame, and "moving": ten random ones drawn anew for each of
    ``frames`` frames, (frames, H, W) (dropouts and scratches, where other frames saw what is missing)."""
    def mask_of(corners: list[tuple[int, int]]) -> np.ndarray:
        mask = np.zeros((height, width), bool)
        for y, x in corners:
            mask[y : y + size, x : x + size] = True
        return mask

    fixed = [(height // 2 - size // 2, width // 2 - size // 2)] + [
        (fy * height // 4 - size // 2, fx * width // 4 - size // 2) for fy in (1, 3) for fx in (1, 3)
    ]
    fixed = [(max(0, y), max(0, x)) for y, x in fixed]
    def random() -> list[tuple[int, int]]:
        return [(int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))) for _ in range(10)]

    masks = {"fixed": mask_of(fixed), "random": mask_of(random())}
    return masks | {"moving": np.stack([mask_of(random()) for _ in range(frames)])}
