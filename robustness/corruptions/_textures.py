"""Procedural textures for the weather corruptions: plasma fractal (fog) and frost.

ImageNet-C overlays crops of five frost photographs; no photos can be shipped here, so the
frost textures are drawn procedurally (ice needles with side branches over fine grain and
slow brightness variation) and matched, per texture, to the per-channel mean and standard
deviation of the photograph it stands in for. They are generated once from fixed seeds and
cached, so they are assets like the photographs, not part of a sample's random draw.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

#: per-channel (mean, std) of ImageNet-C's frost1.png ... frost5.jpg, the photos its code samples from
FROST_PHOTO_STATS: tuple[tuple[tuple[float, float, float], tuple[float, float, float]], ...] = (
    ((0.305, 0.585, 0.650), (0.106, 0.065, 0.060)),
    ((0.787, 0.805, 0.841), (0.084, 0.087, 0.089)),
    ((0.787, 0.805, 0.841), (0.084, 0.087, 0.089)),
    ((0.540, 0.599, 0.648), (0.112, 0.112, 0.117)),
    ((0.441, 0.484, 0.529), (0.174, 0.170, 0.163)),
)
FROST_SIZE = (384, 576)
#: CIFAR-10-C shrinks the frost photos by this factor before cropping small images
FROST_SMALL_SCALE = 0.2


def plasma_noise_size(mapsize: int) -> int:
    """How many uniform draws :func:`plasma_fractal` consumes for one map of side ``mapsize``."""
    total, step = 0, mapsize
    while step >= 2:
        cells = (mapsize // step) ** 2
        total += 3 * cells
        step //= 2
    return total


def plasma_fractal(mapsize: int, wibbledecay: float, noise: np.ndarray) -> np.ndarray:
    """Diamond-square height maps of side ``mapsize`` (a power of two), values in [0, 1].

    The algorithm of ImageNet-C's ``plasma_fractal``: each level fills square centres, then
    diamond centres, with the mean of their neighbours plus uniform noise whose amplitude is
    divided by ``wibbledecay`` per level (larger decay, smoother fog). ``noise`` holds
    ``N x plasma_noise_size(mapsize)`` draws from U(-1, 1), one row per map; the maps of a
    batch are computed together and each depends only on its own row.
    """
    if mapsize & (mapsize - 1):
        raise ValueError(f"mapsize should be a power of two, but got {mapsize}")
    count = noise.shape[0]
    heights = np.zeros((count, mapsize, mapsize), dtype=np.float64)
    step = mapsize
    wibble = 100.0
    used = 0

    def jitter(values: np.ndarray) -> np.ndarray:
        nonlocal used
        size = values.shape[1] * values.shape[2]
        draws = noise[:, used : used + size].reshape(values.shape)
        used += size
        return values / 4 + (wibble * wibble) * draws

    while step >= 2:
        half = step // 2
        corners = heights[:, 0:mapsize:step, 0:mapsize:step]
        square = corners + np.roll(corners, -1, axis=1)
        square += np.roll(square, -1, axis=2)
        heights[:, half:mapsize:step, half:mapsize:step] = jitter(square)
        centres = heights[:, half:mapsize:step, half:mapsize:step]
        corners = heights[:, 0:mapsize:step, 0:mapsize:step]
        left = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=2)
        heights[:, 0:mapsize:step, half:mapsize:step] = jitter(left)
        top = centres + np.roll(centres, 1, axis=2) + corners + np.roll(corners, -1, axis=1)
        heights[:, half:mapsize:step, 0:mapsize:step] = jitter(top)
        step //= 2
        wibble /= wibbledecay
    heights -= heights.min(axis=(1, 2), keepdims=True)
    return (heights / heights.max(axis=(1, 2), keepdims=True)).astype(np.float32)


def _draw_dendrite(canvas: np.ndarray, rng: np.random.Generator, x: float, y: float, length: float, depth: int) -> None:
    """One ice needle from (x, y) with side branches at about +-60 degrees, drawn into ``canvas``."""
    angle = rng.uniform(0.0, 2.0 * math.pi)
    stack = [(x, y, angle, length, depth)]
    while stack:
        x0, y0, theta, size, level = stack.pop()
        x1, y1 = x0 + size * math.cos(theta), y0 + size * math.sin(theta)
        brightness = float(rng.uniform(0.45, 1.0))
        cv2.line(canvas, (int(x0 * 16), int(y0 * 16)), (int(x1 * 16), int(y1 * 16)), brightness, 1, cv2.LINE_AA, 4)
        if level == 0 or size < 3:
            continue
        for t in np.linspace(0.15, 0.9, int(rng.integers(3, 7))):
            bx, by = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
            side = 1.0 if rng.random() < 0.5 else -1.0
            turn = theta + side * math.radians(rng.uniform(50.0, 70.0))
            stack.append((bx, by, turn, size * rng.uniform(0.25, 0.45) * (1.1 - t), level - 1))


@lru_cache(maxsize=8)
def frost_texture(index: int) -> np.ndarray:
    """Frost texture ``index`` (0..4): ``FROST_SIZE`` x 3 float32 in [0, 1], read-only."""
    mean, std = FROST_PHOTO_STATS[index]
    rng = np.random.default_rng([0xF205, index])
    h, w = FROST_SIZE
    needles = np.zeros((h, w), dtype=np.float32)
    for _ in range(int(rng.integers(1250, 1450))):
        _draw_dendrite(
            needles,
            rng,
            float(rng.uniform(0, w)),
            float(rng.uniform(0, h)),
            float(rng.uniform(6.0, 45.0)),
            depth=3,
        )
    needles = cv2.GaussianBlur(needles, (0, 0), 0.6)
    grain = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 1.2)
    haze = cv2.resize(rng.standard_normal((h // 64, w // 64)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    density = cv2.resize(rng.random((h // 96, w // 96)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    field = needles * (0.5 + np.clip(density, 0.0, 1.0)) + 0.2 * grain + 0.1 * haze
    field = (field - field.mean()) / field.std()
    tint = np.asarray(std, dtype=np.float32) * field[..., None] + np.asarray(mean, dtype=np.float32)
    texture = np.clip(tint, 0.0, 1.0)
    texture.setflags(write=False)
    return texture


@lru_cache(maxsize=32)
def scaled_frost(index: int, height: int, width: int, small: bool) -> np.ndarray:
    """Frost texture ``index`` resized for an image of ``height x width`` (read-only)."""
    texture = frost_texture(index)
    th, tw = texture.shape[:2]
    factor = FROST_SMALL_SCALE if small else 1.0
    if th * factor <= height or tw * factor <= width:
        factor = 1.1 * max(height / th, width / tw)
    if factor == 1.0:
        return texture
    size = (math.ceil(tw * factor), math.ceil(th * factor))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    out = np.clip(cv2.resize(texture, size, interpolation=interpolation), 0.0, 1.0)
    out.setflags(write=False)
    return out
