"""Each corruption's strength measured on its output, against its published parameter.

Large images (96 px) use the ImageNet-C values of Hendrycks & Dietterich (2019) written out
here as published (``IMAGENET_C``), not read from the suite's tables; small images (64 px) use
the suite's CIFAR-10-C table through ``parameter``; the suite's own corruptions (lighting,
geometric) use the values CORRUPTIONS.md documents, written out here (``SUITE``). Tolerances
survive outputs that move by 1/255 (a faster implementation may), and each test names the
planted bug it catches.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import cv2
import numpy as np
import pytest

import robustness.corruptions as rc

SMALL, LARGE = 64, 96
SEVERITIES = (1, 2, 3, 4, 5)
LEVEL = 1 / 255

#: Hendrycks & Dietterich's ImageNet-C parameters (``imagenet_c/corruptions.py``), severities 1..5
IMAGENET_C = {
    "pixelate": (0.6, 0.5, 0.4, 0.3, 0.25),
    "motion_blur": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
    "zoom_blur": (1.10, 1.15, 1.20, 1.24, 1.30),  # the largest factor of arange(1, stop, step)
    "snow_blend": (0.8, 0.7, 0.7, 0.65, 0.55),
    "frost_image_weight": (1.0, 0.8, 0.7, 0.65, 0.6),
    "fog_strength": (1.5, 2.0, 2.5, 2.5, 3.0),
    "saturate": ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)),
    "spatter_mud": (False, False, False, True, True),
    # (alpha, sigma, affine jitter) in px at 224 px, written there as 244 * factor
    "elastic_transform": tuple(
        tuple(244 * f for f in c)
        for c in ((2, 0.7, 0.1), (2, 0.08, 0.2), (0.05, 0.01, 0.02), (0.07, 0.01, 0.02), (0.12, 0.01, 0.02))
    ),
}
#: the suite's own corruptions, as CORRUPTIONS.md documents them
SUITE = {
    "brighten": (0.1, 0.2, 0.3, 0.4, 0.5),
    "darken": (0.7, 0.5, 0.35, 0.25, 0.15),
    "contrast_loss": (0.75, 0.5, 0.4, 0.3, 0.15),
    "gamma": (1.3, 1.6, 2.0, 2.5, 3.0),
    "scale": (0.9, 0.8, 0.7, 0.6, 0.5),
    "shear": (5, 10, 15, 20, 30),
    "perspective": (0.05, 0.1, 0.15, 0.2, 0.25),
}


def corrupt(name: str, image: np.ndarray, severity: int, index: int = 0) -> np.ndarray:
    return rc.get(name)(image.astype(np.float32), severity, seed=0, index=index).astype(np.float64)


def textured(size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.2, 0.8, (size, size, 3)).astype(np.float32)


# digital ---------------------------------------------------------------------------------------
def _runs(line: np.ndarray) -> int:
    return 1 + int(np.count_nonzero(np.any(np.abs(np.diff(line, axis=0)) > 0.5 * LEVEL, axis=-1)))


@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_pixelate_block_count(size: int) -> None:
    """The output has ``int(side * c)`` distinct blocks per row and column (counted from the image): catches
    a resize by the wrong factor, the small table used for large images, or an up-sampling that interpolates."""
    image = textured(size)
    for severity in SEVERITIES:
        c = IMAGENET_C["pixelate"][severity - 1] if size == LARGE else rc.get("pixelate").parameter(severity, (size, size))
        out = corrupt("pixelate", image, severity)
        assert _runs(out[:, size // 2]) == int(size * c), f"severity {severity}"
        assert _runs(out[size // 2]) == int(size * c), f"severity {severity}"


def _hsv_saturation(image: np.ndarray) -> np.ndarray:
    high, low = image.max(axis=-1), image.min(axis=-1)
    return np.where(high > 0, (high - low) / np.maximum(high, 1e-12), 0.0)


def test_saturate_scales_and_shifts_hsv_saturation() -> None:
    """Measured S' = clip(S * a + b) on pixels of saturation 0.04 and 0.3 (value and hue kept): catches a and b
    swapped, an additive-only shift, or a change of value."""
    image = np.empty((LARGE, LARGE, 3), np.float32)
    image[: LARGE // 2] = (0.8, 0.8 * (1 - 0.04), 0.8 * (1 - 0.04))
    image[LARGE // 2 :] = (0.5 * (1 - 0.3), 0.5, 0.5 * (1 - 0.3))
    for severity, (a, b) in zip(SEVERITIES, IMAGENET_C["saturate"]):
        out = corrupt("saturate", image, severity)
        for rows, saturation, value in ((slice(0, LARGE // 2), 0.04, 0.8), (slice(LARGE // 2, None), 0.3, 0.5)):
            measured = _hsv_saturation(out[rows]).mean()
            assert measured == pytest.approx(min(1.0, saturation * a + b), abs=3 * LEVEL), f"severity {severity}"
            assert out[rows].max(axis=-1).mean() == pytest.approx(value, abs=LEVEL)


# blur ------------------------------------------------------------------------------------------
def _point_response(name: str, size: int, severity: int, at: tuple[int, int], index: int = 0) -> np.ndarray:
    image = np.zeros((size, size, 1), np.float32)
    image[at] = 1.0
    return corrupt(name, image, severity, index)[..., 0]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_motion_blur_kernel_length_and_decay(index: int) -> None:
    """Response to a point: the streak reaches ``2 * radius`` px from it, and its mean distance is that of a
    half Gaussian of ``sigma`` over ``2 * radius + 1`` taps (within 10%): catches a centred (two-sided) kernel,
    a kernel of ``radius`` taps, or sigma ignored."""
    for severity, (radius, sigma) in zip(SEVERITIES, IMAGENET_C["motion_blur"]):
        response = _point_response("motion_blur", LARGE, severity, (LARGE // 2, LARGE // 2), index)
        ys, xs = np.nonzero(response > 0)
        distance = np.hypot(ys - LARGE // 2, xs - LARGE // 2)
        assert distance.max() == pytest.approx(2 * radius, abs=1.5), f"severity {severity}"
        taps = np.arange(2 * radius + 1)
        weights = np.exp(-(taps**2) / (2 * sigma**2))
        expected_mean = float((taps * weights).sum() / weights.sum())
        measured_mean = float((distance * response[ys, xs]).sum() / response[ys, xs].sum())
        assert measured_mean == pytest.approx(expected_mean, rel=0.1, abs=0.5), f"severity {severity}"


def test_zoom_blur_largest_factor() -> None:
    """A point 30 px right of the centre is smeared outwards to ``30 * max factor`` px: catches a wrong arange
    stop or step, or a zoom about the corner instead of the centre (the streak would not be radial)."""
    centre = (LARGE - 1) / 2
    at = (LARGE // 2, round(centre + 30))
    r0 = at[1] - centre
    for severity, largest in zip(SEVERITIES, IMAGENET_C["zoom_blur"]):
        response = _point_response("zoom_blur", LARGE, severity, at)
        ys, xs = np.nonzero(response > 1e-4)
        assert np.abs(ys - at[0]).max() <= 2, f"severity {severity}: not radial"
        assert (xs.max() - centre) / r0 == pytest.approx(largest, abs=0.035), f"severity {severity}"


@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_glass_blur_swaps_locally_and_keeps_every_pixel(size: int) -> None:
    """Glass blur is blur -> local pixel swaps -> blur: the swaps are a permutation (the image's total is kept
    within a grey level, where copying pixels would change it), a point's response moves (``delta`` > 0) but
    stays local: within twice ``iterations * delta`` plus both blurs' kernel radii (``ceil(4 sigma)``,
    scikit-image's truncation; Hendrycks' sequential swaps can carry a pixel further than ``delta`` in one
    pass). Catches swaps over the whole image, copies instead of swaps, or a blur of the wrong width."""
    image = textured(size)
    for severity in SEVERITIES:
        sigma, delta, iterations = rc.get("glass_blur").parameter(severity, (size, size))
        out = corrupt("glass_blur", image, severity)
        assert out.mean() == pytest.approx(image.mean(), abs=LEVEL), f"severity {severity}"
        reaches = []
        for index in range(3):
            response = _point_response("glass_blur", size, severity, (size // 2, size // 2), index)
            ys, xs = np.nonzero(response > 1e-3 * response.max())
            reaches.append(max(np.abs(ys - size // 2).max(), np.abs(xs - size // 2).max()))
        assert max(reaches) <= 2 * iterations * delta + 2 * np.ceil(4 * sigma), f"severity {severity}"
        assert max(reaches) >= 1, f"severity {severity}: nothing moved"


# weather ---------------------------------------------------------------------------------------
def test_snow_blend_weight() -> None:
    """On a black image, pixels no flake covers are ``(1 - blend) * 0.5`` (the whitened background): measured
    blend = 1 - 2 * (the most common value). Catches blend and 1 - blend swapped, or the small table."""
    image = np.zeros((LARGE, LARGE, 3), np.float32)
    for severity, blend in zip(SEVERITIES, IMAGENET_C["snow_blend"]):
        out = corrupt("snow", image, severity)[..., 0]
        values, counts = np.unique(np.round(out, 3), return_counts=True)
        background = values[np.argmax(counts)]
        assert 1 - 2 * background == pytest.approx(blend, abs=3 * LEVEL), f"severity {severity}"


def test_frost_image_weight() -> None:
    """Two images a constant 0.1 apart, same sample: the outputs differ by ``0.1 * image weight`` wherever
    neither is clipped (the frost layer is the same). Catches the image and frost weights swapped."""
    dark, darker = np.full((LARGE, LARGE, 3), 0.15, np.float32), np.full((LARGE, LARGE, 3), 0.05, np.float32)
    for severity, weight in zip(SEVERITIES, IMAGENET_C["frost_image_weight"]):
        a, b = corrupt("frost", dark, severity), corrupt("frost", darker, severity)
        unclipped = (a < 1 - LEVEL) & (b < 1 - LEVEL)
        assert unclipped.mean() > 0.5
        assert np.median((a - b)[unclipped]) / 0.1 == pytest.approx(weight, abs=0.03), f"severity {severity}"
        assert (b - weight * darker >= -2 * LEVEL).all()  # the frost layer only adds light


def test_fog_strength() -> None:
    """Hendrycks' fog: ``(x + strength * plasma) * peak / (peak + strength)``. Two images 0.1 apart with the
    same peak pixel differ by ``0.1 * peak / (peak + strength)``: the measured strength matches the published
    one. Catches the normalisation dropped or the strength and decay swapped."""
    low, high = np.full((LARGE, LARGE, 3), 0.1, np.float32), np.full((LARGE, LARGE, 3), 0.2, np.float32)
    low[0, 0] = high[0, 0] = 0.9
    for severity, strength in zip(SEVERITIES, IMAGENET_C["fog_strength"]):
        ratio = float(np.median(corrupt("fog", high, severity) - corrupt("fog", low, severity))) / 0.1
        assert 0.9 * (1 / ratio - 1) == pytest.approx(strength, rel=0.05), f"severity {severity}"


def test_spatter_is_water_then_mud() -> None:
    """Water (severities 1-3) only adds to the image, so two inputs keep their difference everywhere; mud
    (4-5) covers part of it, so the difference shrinks where the mud is. Catches the mud flag off by one."""
    a, b = np.full((LARGE, LARGE, 3), 0.4, np.float32), np.full((LARGE, LARGE, 3), 0.2, np.float32)
    for severity, mud in zip(SEVERITIES, IMAGENET_C["spatter_mud"]):
        diff = corrupt("spatter", a, severity) - corrupt("spatter", b, severity)
        unclipped = diff > 0  # neither output clipped to 1
        covered = float((diff[unclipped] < 0.2 - 2 * LEVEL).mean())
        assert (covered > 0.01) == mud, f"severity {severity}: covered share {covered:.3f}"


# lighting --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, measure",
    [
        ("brighten", lambda x, out: float((out - x).mean())),
        ("darken", lambda x, out: float((out / x).mean())),
        ("contrast_loss", lambda x, out: float(out.std() / x.std())),
    ],
    ids=["brighten-shift", "darken-factor", "contrast-ratio"],
)
def test_lighting_parameter_measured(name: str, measure: Callable[[np.ndarray, np.ndarray], float]) -> None:
    """Brighten's mean shift, darken's exposure ratio and contrast_loss's std ratio on an unclipped image
    (values 0.25..0.45) equal the documented parameter; contrast keeps the mean. Catches a multiplicative
    brighten, an additive darken or contrast about 0.5 instead of the image mean."""
    x = np.random.default_rng(0).uniform(0.25, 0.45, (LARGE, LARGE, 3)).astype(np.float32).astype(np.float64)
    for severity, value in zip(SEVERITIES, SUITE[name]):
        out = corrupt(name, x, severity)
        assert measure(x, out) == pytest.approx(value, abs=2 * LEVEL), f"severity {severity}"
        if name == "contrast_loss":
            assert out.mean() == pytest.approx(x.mean(), abs=LEVEL)


def test_gamma_fitted_exponent() -> None:
    """The exponent fitted to log(out) vs log(x) over a ramp is g or 1/g (both appear over a few images):
    catches gamma applied as a multiplier, or its inverse never drawn."""
    x = np.tile(np.linspace(0.1, 0.9, LARGE, dtype=np.float32)[None, :, None], (LARGE, 1, 3))
    for severity, g in zip(SEVERITIES, SUITE["gamma"]):
        fitted = set()
        for index in range(8):
            out = corrupt("gamma", x, severity, index)
            slope = np.polyfit(np.log(x[0, :, 0]), np.log(np.maximum(out[0, :, 0], 1e-6)), 1)[0]
            assert min(abs(slope - g), abs(slope - 1 / g)) < 0.02, f"severity {severity}: slope {slope:.3f}"
            fitted.add(slope > 1)
        assert fitted == {True, False}, f"severity {severity}: only one of g, 1/g drawn"


def test_colour_temperature_casts_warm_or_cool_and_grows_with_severity() -> None:
    """On grey, green is kept and red/blue move apart: warm casts (red > blue) and cool ones (blue > red) both
    appear, and the log red/blue ratio grows with severity (further from 6500 K). Catches kelvin and severity
    out of order, or gains applied to the wrong channels."""
    grey = np.full((16, 16, 3), 0.5, np.float32)
    strength = {}
    for severity in SEVERITIES:
        casts = []
        for index in range(8):
            out = corrupt("colour_temperature", grey, severity, index)[0, 0]
            assert out[1] == pytest.approx(0.5, abs=LEVEL)
            casts.append(np.log(out[0] / out[2]))
        assert max(casts) > 0 > min(casts), f"severity {severity}: only one cast drawn"
        strength[severity] = (max(casts), -min(casts))
    for lower, higher in pairwise(SEVERITIES):
        assert strength[higher][0] > strength[lower][0] and strength[higher][1] > strength[lower][1]


# geometric -------------------------------------------------------------------------------------
DOTS = [(y, x) for y in (32, 43, 53, 64) for x in (32, 43, 53, 64)]  # within 17 px of the centre: zoom 2 keeps them


def _dot_moves(name: str, severity: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """``(source, found)`` as (x, y): where each dot of a 4x4 grid lands (one image per dot, so dots are never
    confused; intensity-weighted centroids). Dots that leave the image are dropped."""
    source, found = [], []
    for y, x in DOTS:
        image = np.zeros((LARGE, LARGE, 1), np.float32)
        image[y - 1 : y + 2, x - 1 : x + 2] = 1.0
        out = corrupt(name, image, severity, index)[..., 0]
        if out.sum() < 1.0:  # the dot left the image
            continue
        ys, xs = np.mgrid[0:LARGE, 0:LARGE]
        source.append((x, y))
        found.append(((out * xs).sum() / out.sum(), (out * ys).sum() / out.sum()))
    return np.float64(source), np.float64(found)


def _fit_affine(name: str, severity: int, index: int) -> np.ndarray:
    """The 2x3 matrix (output <- input) fitted to where the dots went (least squares)."""
    source, found = _dot_moves(name, severity, index)
    assert len(source) >= 6, f"{name} severity {severity}: only {len(source)} dots stayed in the image"
    design = np.hstack([source, np.ones((len(source), 1))])
    solution, *_ = np.linalg.lstsq(design, found, rcond=None)
    return solution.T


def test_scale_fitted_zoom() -> None:
    """Fitted affine of a dot grid: isotropic zoom s or 1/s (both drawn) about the image centre, no shear or
    rotation. Catches a zoom about the corner, the factor applied twice or its inverse never drawn."""
    centre = (LARGE - 1) / 2
    for severity, s in zip(SEVERITIES, SUITE["scale"]):
        zooms = []
        for index in range(6):
            matrix = _fit_affine("scale", severity, index)
            zoom = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
            assert abs(matrix[0, 1]) < 0.02 and abs(matrix[1, 0]) < 0.02
            assert matrix[:, :2] @ [centre, centre] + matrix[:, 2] == pytest.approx([centre, centre], abs=1.0)
            assert min(abs(zoom - s), abs(zoom - 1 / s)) < 0.02, f"severity {severity}: zoom {zoom:.3f}"
            zooms.append(zoom)
        assert min(zooms) < 1 < max(zooms), f"severity {severity}: only one direction drawn"


def test_shear_fitted_angle() -> None:
    """Fitted affine of a dot grid: one off-diagonal entry is tan(angle), the other 0, the diagonal 1. Catches
    degrees used as radians or the angle halved."""
    for severity, angle in zip(SEVERITIES, SUITE["shear"]):
        for index in range(4):
            matrix = _fit_affine("shear", severity, index)
            k = max(matrix[0, 1], matrix[1, 0], key=abs)
            assert abs(k) == pytest.approx(np.tan(np.radians(angle)), abs=0.02), f"severity {severity}"
            assert min(abs(matrix[0, 1]), abs(matrix[1, 0])) < 0.02
            assert np.diag(matrix[:, :2]) == pytest.approx([1, 1], abs=0.02)


def test_perspective_corner_displacement() -> None:
    """Homography fitted to the dot grid, applied to the image corners: each corner moves inwards by
    U(0.5, 1) x fraction x side along each axis. Catches the fraction applied to the half side, or outwards."""
    corners = np.float64([[0, 0], [LARGE - 1, 0], [LARGE - 1, LARGE - 1], [0, LARGE - 1]])
    inward = np.float64([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    for severity, fraction in zip(SEVERITIES, SUITE["perspective"]):
        for index in range(3):
            source, found = _dot_moves("perspective", severity, index)
            homography, _ = cv2.findHomography(source, found)
            moved = cv2.perspectiveTransform(corners[None], homography)[0]
            pull = (moved - corners) * inward / (fraction * (LARGE - 1))
            assert (pull > 0.5 - 0.06).all() and (pull < 1.0 + 0.06).all(), f"severity {severity}: {pull}"


def test_elastic_displacement_and_affine_jitter_measured() -> None:
    """Coordinate ramps through elastic_transform at 224 px (ImageNet-C's reference side) give each output
    pixel's source position. An affine fitted on the centre is the three-point jitter: its pull on the three
    points is at most the table's jitter, with the RMS of U(-j, j), j / sqrt(3). What the affine leaves is the
    smoothed displacement field: U(-1, 1) noise filtered by a Gaussian of the table's sigma, times alpha, has the
    standard deviation alpha / (2 sqrt(3 pi) sigma). Catches alpha and sigma swapped, the field or the jitter
    not scaled, or severity 1's near-constant field (sigma 170.8) made rough."""
    side, lo, hi = 224, 64, 160
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    ramps = np.stack([xs / (side - 1), ys / (side - 1), np.zeros_like(xs)], -1)
    grid = np.stack([xs[lo:hi, lo:hi].ravel(), ys[lo:hi, lo:hi].ravel(), np.ones((hi - lo) ** 2)], 1)
    c, s = side // 2, side // 3
    points = np.float64([[c + s, c + s, 1], [c + s, c - s, 1], [c - s, c - s, 1]])
    for severity, (alpha, sigma, jitter) in zip(SEVERITIES, IMAGENET_C["elastic_transform"]):
        residuals, pulls = [], []
        for index in range(4):
            out = corrupt("elastic_transform", ramps, severity, index) * (side - 1)
            source = np.stack([out[lo:hi, lo:hi, 0].ravel(), out[lo:hi, lo:hi, 1].ravel()], 1)
            fit, *_ = np.linalg.lstsq(grid, source, rcond=None)  # source <- output
            residuals.append(float((source - grid @ fit).std()))
            forward = np.linalg.inv(np.vstack([fit.T, [0, 0, 1]]))
            pulls.append((points @ forward.T)[:, :2] - points[:, :2])
        pull = np.concatenate(pulls).ravel()
        assert np.abs(pull).max() <= jitter + 1.5, f"severity {severity}"
        assert np.sqrt((pull**2).mean()) == pytest.approx(jitter / np.sqrt(3), rel=0.2), f"severity {severity}"
        field = alpha / (2 * np.sqrt(3 * np.pi) * sigma)
        measured = float(np.mean(residuals))
        if sigma > 100:  # a near-constant field: the affine absorbs it
            assert measured < 0.05, f"severity {severity}: {measured:.3f}"
        else:  # severity 2's sigma (19.5 px) is partly absorbed by the fit too
            assert measured == pytest.approx(field, rel=0.1 if sigma < 5 else 0.35), f"severity {severity}"
