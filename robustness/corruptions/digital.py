"""Digital: ImageNet-C's brightness, contrast, saturate, elastic transform, pixelate and JPEG."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

from robustness.corruptions import _filters
from robustness.corruptions.base import (
    HENDRYCKS,
    BatchCorruption,
    Corruption,
    Params,
    is_small,
    register,
    stacked,
    to_float,
    to_uint8,
)


def _channel_extreme(images: np.ndarray, op: np.ufunc) -> np.ndarray:
    """Per-pixel max or min over the channels, ``N x H x W x 1`` (faster than a reduction over 3)."""
    out = images[..., :1].copy()
    for channel in range(1, images.shape[-1]):
        op(out, images[..., channel : channel + 1], out=out)
    return out


@register
class Brightness(BatchCorruption):
    """HSV value raised by ``c`` (hue and saturation kept)."""

    name = "brightness"
    family = "digital"
    source = HENDRYCKS
    imagenet_c = "benchmark"
    random = False
    parameter_doc = "shift of the HSV value channel"
    implementation = (
        "own closed form of the HSV round trip (RGB scaled by V'/V), vectorised; "
        "albumentations HueSaturationValue quantises to uint8"
    )
    table_small = (0.05, 0.1, 0.15, 0.2, 0.3)
    table_large = (0.1, 0.2, 0.3, 0.4, 0.5)

    def apply_batch(self, images: np.ndarray, params: Sequence[Params]) -> np.ndarray:
        value = _channel_extreme(images, np.maximum)
        raised = np.minimum(value + stacked(params, "c"), np.float32(1.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = images * (raised / value)
        return np.where(value > 0, scaled, raised)


@register
class Contrast(BatchCorruption):
    """Contrast reduced towards each channel's mean: ``(x - mean) * c + mean``."""

    name = "contrast"
    family = "digital"
    source = HENDRYCKS
    imagenet_c = "benchmark"
    random = False
    parameter_doc = "contrast factor c (1 = unchanged)"
    implementation = (
        "own: one OpenCV affine colour transform per image (uint8 in, uint8 out for uint8 input), "
        "per-channel means as ImageNet-C (albumentations contrast scales around 0)"
    )
    table_small = (0.75, 0.5, 0.4, 0.3, 0.15)
    table_large = (0.4, 0.3, 0.2, 0.1, 0.05)
    uint8_native = True

    def apply_batch(self, images: np.ndarray, params: Sequence[Params]) -> np.ndarray:
        return np.stack([_contrast(image, float(p["c"])) for image, p in zip(images, params)])

    def apply_uint8(self, images: np.ndarray, params: Sequence[Params]) -> np.ndarray:
        return np.stack([_contrast(image, float(p["c"])) for image, p in zip(images, params)])


def _contrast(image: np.ndarray, factor: float) -> np.ndarray:
    """``(x - mean) * factor + mean`` per channel in one OpenCV pass (saturating, rounding for uint8)."""
    channels = image.shape[-1]
    matrix = np.zeros((channels, channels + 1), dtype=np.float32)
    matrix[np.arange(channels), np.arange(channels)] = factor
    matrix[:, channels] = np.asarray(cv2.mean(image)[:channels], dtype=np.float32) * np.float32(1.0 - factor)
    return cv2.transform(image, matrix).reshape(image.shape)


@register
class Saturate(BatchCorruption):
    """HSV saturation scaled and shifted: ``S' = clip(S * a + b)`` (hue and value kept)."""

    name = "saturate"
    family = "digital"
    source = HENDRYCKS
    imagenet_c = "heldout"
    random = False
    rgb_only = True
    parameter_doc = "(saturation factor a, saturation shift b)"
    implementation = "own closed form of the HSV round trip, vectorised (albumentations shifts saturation additively)"
    table_small = ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2))
    table_large = ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2))

    def apply_batch(self, images: np.ndarray, params: Sequence[Params]) -> np.ndarray:
        factors = np.asarray([p["c"] for p in params], dtype=np.float32).reshape(-1, 2, 1, 1, 1)
        value = _channel_extreme(images, np.maximum)
        low = _channel_extreme(images, np.minimum)
        spread = value - low
        with np.errstate(divide="ignore", invalid="ignore"):
            saturation = np.where(value > 0, spread / value, 0.0)
            new_saturation = np.clip(saturation * factors[:, 0] + factors[:, 1], 0.0, 1.0)
            new_spread = value * new_saturation
            coloured = value - (value - images) * (new_spread / spread)
        # a gray pixel has hue 0 (red) in scikit-image's HSV, so added saturation tints it red
        gray = np.concatenate([value, value - new_spread, value - new_spread], axis=-1)
        return np.where(spread > 0, coloured, gray)


def _elastic_reference(shape: tuple[int, ...]) -> tuple[int, int, float]:
    """Reference grid (h, w) and the image/reference scale for the elastic displacement fields."""
    h, w = shape[:2]
    side = 32 if is_small(shape) else 224
    scale = min(h, w) / side
    return max(1, round(h / scale)), max(1, round(w / scale)), scale


@lru_cache(maxsize=16)
def _pixel_grid(h: int, w: int) -> np.ndarray:
    """``H x W x 2`` float32 (x, y) pixel coordinates, read-only."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    grid = np.stack([xs, ys], axis=-1)
    grid.setflags(write=False)
    return grid


@register
class ElasticTransform(Corruption):
    """Random affine jitter of three points, then a smooth random displacement field."""

    name = "elastic_transform"
    family = "digital"
    source = HENDRYCKS
    imagenet_c = "benchmark"
    parameter_doc = (
        "(alpha, sigma, affine jitter) in px at the reference side (32 px small, 224 px large; "
        "ImageNet-C writes them as 244 * factor); displacements scale with the image"
    )
    implementation = (
        "OpenCV warpAffine and remap (the calls albumentations' warp_affine / remap wrap, without their "
        "per-call overhead); displacement fields smoothed exactly as scipy mode='reflect'"
    )
    table_small = ((0, 0, 2.56), (1.6, 6.4, 2.24), (2.56, 1.92, 1.92), (3.2, 1.28, 1.6), (3.2, 0.96, 0.96))
    table_large = (
        (488.0, 170.8, 24.4),
        (488.0, 19.52, 48.8),
        (12.2, 2.44, 4.88),
        (17.08, 2.44, 4.88),
        (29.28, 2.44, 4.88),
    )

    def make_params(self, image: np.ndarray, severity: int, rng: np.random.Generator) -> Params:
        alpha, sigma, jitter = self.parameter(severity, image.shape)
        h, w = image.shape[:2]
        ref_h, ref_w, scale = _elastic_reference(image.shape)
        centre = np.float32([h, w]) // 2
        square = min(h, w) // 3
        src = np.float32([centre + square, [centre[0] + square, centre[1] - square], centre - square])
        dst = src + (rng.uniform(-jitter, jitter, size=src.shape) * scale).astype(np.float32)
        fields = rng.uniform(-1.0, 1.0, size=(2, ref_h, ref_w)).astype(np.float32)
        if alpha == 0:
            dx = dy = np.zeros((h, w), dtype=np.float32)
        else:
            dx, dy = (_filters.smooth_reflect(f, sigma, truncate=3.0) * np.float32(alpha * scale) for f in fields)
            if (ref_h, ref_w) != (h, w):
                dx, dy = (cv2.resize(d, (w, h), interpolation=cv2.INTER_LINEAR) for d in (dx, dy))
        grid = _pixel_grid(h, w)
        return {"affine": cv2.getAffineTransform(src, dst), "map": grid + np.stack([dx, dy], axis=-1)}

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        h, w = image.shape[:2]
        warped = cv2.warpAffine(
            image, params["affine"], (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )
        out = cv2.remap(warped, params["map"], None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        return out.reshape(image.shape)


@register
class Pixelate(Corruption):
    """Box-downsample to a fraction of the size, then nearest-neighbour upsample."""

    name = "pixelate"
    family = "digital"
    source = HENDRYCKS
    imagenet_c = "benchmark"
    random = False
    parameter_doc = "size fraction of the downsampled image"
    implementation = (
        "OpenCV resize: INTER_AREA down (PIL BOX), INTER_NEAREST_EXACT up "
        "(albumentations Downscale quantises to uint8)"
    )
    table_small = (0.95, 0.9, 0.85, 0.75, 0.65)
    table_large = (0.6, 0.5, 0.4, 0.3, 0.25)

    uint8_native = True

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        out = np.empty_like(image)
        self._pixelate(image, params["c"], out)
        return out

    def apply_uint8(self, images: np.ndarray, params: Sequence[Params]) -> np.ndarray:
        out = np.empty_like(images)
        for image, p, dest in zip(images, params, out):
            self._pixelate(image, p["c"], dest)
        return out

    @staticmethod
    def _pixelate(image: np.ndarray, fraction: float, out: np.ndarray) -> None:
        h, w = image.shape[:2]
        small = cv2.resize(image, (max(1, int(w * fraction)), max(1, int(h * fraction))), interpolation=cv2.INTER_AREA)
        out.reshape(h, w, -1)[...] = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST_EXACT).reshape(h, w, -1)


@register
class JpegCompression(Corruption):
    """JPEG encode and decode at a low quality."""

    name = "jpeg_compression"
    family = "digital"
    source = HENDRYCKS
    imagenet_c = "benchmark"
    random = False
    parameter_doc = "JPEG quality (libjpeg scale, 4:2:0 chroma subsampling)"
    implementation = (
        "OpenCV libjpeg encode/decode (as albumentations image_compression), fed BGR so colour handling "
        "matches PIL"
    )
    table_small = (80, 65, 58, 50, 40)
    table_large = (25, 18, 15, 10, 7)

    uint8_native = True

    def apply(self, image: np.ndarray, params: Params) -> np.ndarray:
        out = np.empty(image.shape, dtype=np.uint8)
        self._jpeg(to_uint8(image), int(params["c"]), out)
        return to_float(out)

    def apply_uint8(self, images: np.ndarray, params: Sequence[Params]) -> np.ndarray:
        out = np.empty_like(images)
        for image, p, dest in zip(images, params, out):
            self._jpeg(image, int(p["c"]), dest)
        return out

    @staticmethod
    def _jpeg(image: np.ndarray, quality: int, out: np.ndarray) -> None:
        """Encode and decode one uint8 ``H x W x C`` image into ``out``.

        OpenCV codes BGR: RGB is swapped (cvtColor, one SIMD pass each way; a reversed-axis copy cost
        as much as the codec) so luma and chroma are computed as PIL (ImageNet-C) does.
        """
        rgb = image.shape[-1] == 3
        source = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if rgb else image
        ok, encoded = cv2.imencode(".jpg", source, (cv2.IMWRITE_JPEG_QUALITY, quality))
        if not ok:
            raise RuntimeError(f"OpenCV could not JPEG-encode a {image.shape} image")
        decoded = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
        if rgb:
            cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB, dst=out)
        else:
            out[...] = decoded.reshape(out.shape)
