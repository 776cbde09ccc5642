"""Blur: ImageNet-C's defocus, glass, motion, zoom and Gaussian blur."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from albumentations.augmentations.blur import functional as albu_blur
from albumentations.augmentations.pixel import functional as albu_pixel
from scipy import sparse

from robustness.corruptions import _filters
from robustness.corruptions.base import HENDRYCKS, Corruption, Params, is_small, register


@register
class DefocusBlur(Corruption):
    """Convolution with an anti-aliased disk (out-of-focus lens)."""

    name = "defocus_blur"
    family = "blur"
    source = HENDRYCKS
    imagenet_c = "benchmark"
    random = False
    parameter_doc = "(disk radius px, anti-alias sigma)"
    implementation = "albumentations convolve with ImageNet-C's disk kernel, cached per severity"
    table_small = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1))
    table_large = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        radius, alias_blur = params["c"]
        return albu_pixel.convolve(image, _filters.disk_kernel(float(radius), float(alias_blur)))


def _glass_permutation(h: int, w: int, delta: int, offsets: np.ndarray) -> np.ndarray:
    """The pixel permutation of ImageNet-C's sequential local swaps, computed on indices.

    Positions are visited from bottom-right to top-left (``h`` from ``H - delta`` down to
    ``delta + 1``, likewise ``w``) and each swaps with ``(h + dy, w + dx)``; swapping indices
    instead of pixels reproduces the reference loop exactly at a fraction of its cost.
    """
    rows = np.arange(h - delta, delta, -1)
    cols = np.arange(w - delta, delta, -1)
    here = (rows[:, None] * w + cols[None, :]).ravel()
    perm = list(range(h * w))
    for step in offsets:
        there = here + step[:, 0] * w + step[:, 1]
        for a, b in zip(here.tolist(), there.tolist()):
            perm[a], perm[b] = perm[b], perm[a]
    return np.asarray(perm, dtype=np.intp)


@register
class GlassBlur(Corruption):
    """Blur, shuffle pixels locally (frosted glass), blur again."""

    name = "glass_blur"
    family = "blur"
    source = HENDRYCKS
    imagenet_c = "benchmark"
    parameter_doc = "(Gaussian sigma, max pixel displacement, swap iterations)"
    implementation = (
        "own: ImageNet-C's exact sequential swap order computed on an index permutation "
        "(albumentations GlassBlur's fast mode swaps all pixels at once, a different, milder shuffle)"
    )
    table_small = ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))
    table_large = ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        sigma, delta, iterations = self.parameter(severity, image.shape)
        h, w = image.shape[:2]
        count = max(0, h - 2 * delta) * max(0, w - 2 * delta)
        offsets = rng.integers(-delta, delta, size=(iterations, count, 2))
        return {"sigma": sigma, "perm": _glass_permutation(h, w, delta, offsets)}

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        sigma = params["sigma"]
        blurred = _filters.gaussian_blur(image, sigma)
        quantised = np.floor(np.clip(blurred, 0.0, 1.0) * np.float32(255.0)) / np.float32(255.0)
        shuffled = quantised.reshape(-1, image.shape[2])[params["perm"]].reshape(image.shape)
        return _filters.gaussian_blur(shuffled, sigma)


@register
class MotionBlur(Corruption):
    """Linear motion blur along a random direction in [-45, 45] degrees."""

    name = "motion_blur"
    family = "blur"
    source = HENDRYCKS
    imagenet_c = "benchmark"
    parameter_doc = "(radius px, sigma px) of ImageMagick's one-sided motion kernel; angle U(-45, 45)"
    implementation = (
        "own: ImageMagick MotionBlur kernel (as ImageNet-C / imagecorruptions) as a sum of shifted copies; "
        "albumentations MotionBlur uses a uniform line kernel"
    )
    table_small = ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5))
    table_large = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        radius, sigma = self.parameter(severity, image.shape)
        angle = round(float(rng.uniform(-45.0, 45.0)) * 2.0) / 2.0
        return {"taps": _filters.motion_taps(int(radius), float(sigma), angle)}

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        return _filters.motion_blur(image, params["taps"])


_CHUNK = 128  # channels per cv2 call (OpenCV 5 handles at most 128)


def _zoom_factors(severity_entry: tuple[float, float, float]) -> np.ndarray:
    start, stop, step = severity_entry
    return np.arange(start, stop, step)


@lru_cache(maxsize=64)
def _zoom_operator(h: int, w: int, entry: tuple[float, float, float]) -> sparse.csr_matrix:
    """Zoom blur of an ``h x w`` image as a sparse ``hw x hw`` matrix (built by zooming basis images)."""
    factors = _zoom_factors(entry)
    pixels = h * w
    columns = []
    for start in range(0, pixels, _CHUNK):
        stop = min(pixels, start + _CHUNK)
        basis = np.zeros((pixels, stop - start), dtype=np.float32)
        basis[np.arange(start, stop), np.arange(stop - start)] = 1.0
        basis = basis.reshape(h, w, stop - start)
        total = basis.copy()
        for zoom in factors:
            total += _filters.central_zoom(basis, float(zoom))
        columns.append(sparse.csc_matrix(total.reshape(pixels, stop - start) / np.float32(len(factors) + 1)))
    matrix = sparse.hstack(columns).tocsr()
    matrix.eliminate_zeros()
    return matrix


@register
class ZoomBlur(Corruption):
    """Average of the image zoomed into its centre by a range of factors (radial blur)."""

    name = "zoom_blur"
    family = "blur"
    source = HENDRYCKS
    imagenet_c = "benchmark"
    random = False
    parameter_doc = "zoom factors: numpy arange(start, stop, step)"
    implementation = (
        "albumentations zoom_blur (crop centre, bilinear resize, average); for images <= 64 px the same "
        "linear operator is precomputed as a sparse matrix per size and severity"
    )
    table_small = ((1, 1.06, 0.01), (1, 1.11, 0.01), (1, 1.16, 0.01), (1, 1.21, 0.01), (1, 1.26, 0.01))
    table_large = ((1, 1.11, 0.01), (1, 1.16, 0.01), (1, 1.21, 0.02), (1, 1.26, 0.02), (1, 1.31, 0.03))

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        return self.apply_batch(image[None], [params])[0]

    def apply_batch(self, images: np.ndarray, params: Sequence[Params]) -> np.ndarray:
        n, h, w, c = images.shape
        entry = tuple(float(v) for v in params[0]["c"])
        if is_small(images.shape[1:]):
            operator = _zoom_operator(h, w, entry)
            flat = images.transpose(1, 2, 0, 3).reshape(h * w, n * c)
            out = np.asarray(operator @ flat, dtype=np.float32)
            return out.reshape(h, w, n, c).transpose(2, 0, 1, 3)
        factors = _zoom_factors(entry)
        return np.stack([albu_blur.zoom_blur(image, factors).reshape(image.shape) for image in images])


@register
class GaussianBlur(Corruption):
    """Gaussian blur (scikit-image semantics: 4-sigma kernel, replicated borders)."""

    name = "gaussian_blur"
    family = "blur"
    source = HENDRYCKS
    imagenet_c = "heldout"
    random = False
    parameter_doc = "sigma px of the Gaussian kernel"
    implementation = (
        "cv2 GaussianBlur with skimage.filters.gaussian's kernel size and border "
        "(albumentations GaussianBlur reflects borders)"
    )
    table_small = (0.4, 0.6, 0.7, 0.8, 1.0)
    table_large = (1, 2, 3, 4, 6)

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        return _filters.gaussian_blur(image, float(params["c"]))

