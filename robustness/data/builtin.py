"""Datasets made on this machine: scikit-learn's real handwritten digits and procedural shapes."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from robustness.core.errors import UsageError
from robustness.data.base import DATASETS, ArrayDataset, DatasetRequest, ImageDataset
from robustness.data.layout import images_from_nhwc

DIGITS_SIZE = 32
DIGITS_TEST_FRACTION = 0.3
DIGITS_SPLIT_SEED = 0


@DATASETS.register("digits")
def digits(spec: str, request: DatasetRequest) -> ImageDataset:
    """scikit-learn's 1,797 real 8x8 handwritten digits, upscaled to 32x32 grayscale.

    The stratified 70/30 train/test split is fixed (it does not follow ``--seed``) so that
    every run evaluates the same test images; sample ids are positions in the full set.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    raw = (bunch.images / 16.0 * 255.0).round().astype(np.uint8)
    upscaled = np.stack(
        [np.asarray(Image.fromarray(img).resize((DIGITS_SIZE, DIGITS_SIZE), Image.BILINEAR)) for img in raw]
    )
    positions = np.arange(len(raw))
    train_idx, test_idx = train_test_split(
        positions, test_size=DIGITS_TEST_FRACTION, stratify=bunch.target, random_state=DIGITS_SPLIT_SEED
    )
    chosen = np.sort(train_idx if request.split == "train" else test_idx)
    return ArrayDataset("digits", upscaled[chosen][..., None], bunch.target[chosen], [str(d) for d in range(10)], chosen)


SHAPES = ("circle", "square", "triangle", "star", "cross", "hexagon", "ring", "pentagon")
SHAPES_SIZE = 32
SHAPES_COUNTS = {"train": 6000, "test": 1000}


def _regular(cx: float, cy: float, radii: list[float], k: int, angle: float) -> list[tuple[float, float]]:
    """Vertices of a k-gon whose radius cycles through ``radii`` (a star has two)."""
    thetas = angle + 2 * np.pi * np.arange(k) / k
    rad = np.resize(np.asarray(radii), k)
    return list(zip(cx + rad * np.cos(thetas), cy + rad * np.sin(thetas)))


def _rotated_bar(cx: float, cy: float, length: float, width: float, angle: float) -> list[tuple[float, float]]:
    corners = np.array([[-length, -width], [length, -width], [length, width], [-length, width]])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return [(cx + x, cy + y) for x, y in corners @ rot.T]


def _draw(draw: ImageDraw.ImageDraw, kind: str, cx: float, cy: float, r: float, angle: float, fill, hole) -> None:
    if kind in ("circle", "ring"):
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        if kind == "ring":
            inner = r * 0.55
            draw.ellipse([cx - inner, cy - inner, cx + inner, cy + inner], fill=hole)
    elif kind == "cross":
        draw.polygon(_rotated_bar(cx, cy, r, r * 0.28, angle), fill=fill)
        draw.polygon(_rotated_bar(cx, cy, r, r * 0.28, angle + np.pi / 2), fill=fill)
    else:
        k, radii, offset = {
            "square": (4, [r], 0.0),
            "pentagon": (5, [r], 0.0),
            "triangle": (3, [r], 0.0),
            "hexagon": (6, [r], 0.0),
            "star": (10, [r, r * 0.45], 0.0),
        }[kind]
        draw.polygon(_regular(cx, cy, radii, k, angle + offset), fill=fill)


def render_shape(kind: str, rng: np.random.Generator, size: int = SHAPES_SIZE) -> np.ndarray:
    """One RGB image of ``kind`` with random colour, size, position, rotation and background."""
    background = rng.integers(0, 256, 3)
    colour = rng.integers(0, 256, 3)
    while np.abs(colour.astype(int) - background.astype(int)).sum() < 200:
        colour = rng.integers(0, 256, 3)
    scale = 4  # draw large, then downsample: anti-aliased edges
    big = size * scale
    image = Image.new("RGB", (big, big), tuple(int(v) for v in background))
    draw = ImageDraw.Draw(image)
    r = rng.uniform(0.22, 0.42) * big
    cx, cy = rng.uniform(r, big - r, 2)
    angle = rng.uniform(0, 2 * np.pi)
    _draw(draw, kind, cx, cy, r, angle, tuple(int(v) for v in colour), tuple(int(v) for v in background))
    return np.asarray(image.resize((size, size), Image.LANCZOS))


class ShapesDataset(ImageDataset):
    """Procedural 32x32 RGB shapes (eight classes), rendered lazily: memory does not grow with size.

    Image ``i`` depends only on ``(seed, split, i)``; labels cycle through the classes, so every
    prefix of the set is balanced.
    """

    def __init__(self, n: int, *, seed: int, split: str) -> None:
        self.name = "shapes"
        self.class_names = SHAPES
        self.channels = 3
        self.image_size = (SHAPES_SIZE, SHAPES_SIZE)
        self._n = n
        self._seed = seed
        self._split_key = 0 if split == "train" else 1
        self._indices = np.arange(n, dtype=np.int64)

    def __len__(self) -> int:
        return self._n

    @property
    def indices(self) -> np.ndarray:
        return self._indices

    @property
    def labels(self) -> np.ndarray:
        return self._indices % len(SHAPES)

    def labels_at(self, positions: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(positions, dtype=np.int64) % len(SHAPES))

    def load(self, positions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        positions = np.asarray(positions, dtype=np.int64)
        images = np.stack(
            [render_shape(SHAPES[p % len(SHAPES)], np.random.default_rng([self._seed, self._split_key, int(p)])) for p in positions]
        ) if len(positions) else np.empty((0, SHAPES_SIZE, SHAPES_SIZE, 3), np.uint8)
        return images_from_nhwc(images), torch.from_numpy(positions % len(SHAPES))


@DATASETS.register("shapes")
def shapes(spec: str, request: DatasetRequest) -> ImageDataset:
    """``shapes`` (6,000 train / 1,000 test) or ``shapes:N`` (N images in the requested split)."""
    _, _, size = spec.partition(":")
    if size and not size.isdigit():
        raise UsageError(f"dataset spec {spec!r} should be 'shapes' or 'shapes:N' with N a number of images.")
    n = int(size) if size else SHAPES_COUNTS[request.split]
    return ShapesDataset(n, seed=request.seed, split=request.split)
