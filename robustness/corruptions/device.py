"""Batched torch implementations of the corruptions that are tensor arithmetic, for ``--device cuda``.

Each takes a ``N x C x H x W`` float batch in [0, 1] on any device and returns the corrupted
batch on that device, unclipped (:func:`corrupt_on_device` clips, and handles ``rgb_only``
corruptions as the CPU path does). The severity tables are the CPU corruptions' own.

* Deterministic corruptions follow the CPU formulas; they agree with the CPU path within a
  per-pixel tolerance stated in ``TOLERANCE`` (tests run both on CPU tensors).
* Corruptions whose randomness is a few numbers per image (gamma, colour temperature,
  occlusion boxes) take them from the CPU corruption's own ``make_params``: same draw, same
  result within the tolerance.
* Per-pixel noise comes from a torch generator on the batch's device, seeded per sample by
  ``(seed, sample id, corruption, severity)``: reproducible, independent of batch size, and
  equal to the CPU path in distribution (not in bits; the tests compare distributions).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from robustness.corruptions import _filters
from robustness.corruptions.base import LUMA, Corruption, Params, check_severity

DeviceFn = Callable[["DeviceBatch"], torch.Tensor]
DEVICE_CORRUPTIONS: dict[str, DeviceFn] = {}
#: largest per-pixel difference to the CPU path (pixel range 1) of each deterministic implementation
TOLERANCE: dict[str, float] = {}


class DeviceBatch:
    """What a device implementation needs: the batch and the cell's corruption, severity, sample ids, seed."""

    def __init__(self, corruption: Corruption, images: torch.Tensor, severity: int, indices: np.ndarray, seed: int) -> None:
        self.corruption = corruption
        self.images = images
        self.severity = severity
        self.indices = indices
        self.seed = seed

    @property
    def parameter(self) -> object:
        """The severity table entry for this image size."""
        return self.corruption.parameter(self.severity, tuple(self.images.shape[2:]))

    def params(self) -> list[Params]:
        """The CPU corruption's per-sample draw (for corruptions whose draw depends on the image shape only)."""
        n, c, h, w = self.images.shape
        blank = np.broadcast_to(np.zeros((), np.float32), (n, h, w, c))
        return self.corruption.draw(blank, self.severity, self.indices, seed=self.seed)

    def generator(self, position: int) -> torch.Generator:
        """A generator on the batch's device for sample ``position``, seeded by the sample's identity."""
        key = f"{self.seed}:{int(self.indices[position])}:{self.corruption.name}:{self.severity}".encode()
        digest = hashlib.blake2b(key, digest_size=8, person=b"robustness-dev").digest()
        gen = torch.Generator(device=self.images.device)
        gen.manual_seed(int.from_bytes(digest, "little") >> 1)
        return gen

    def per_sample(self, draw: Callable[[torch.Generator, tuple[int, ...]], torch.Tensor]) -> torch.Tensor:
        """Stack ``draw(generator, image shape)`` over the samples (one seeded stream each)."""
        shape = tuple(self.images.shape[1:])
        return torch.stack([draw(self.generator(i), shape) for i in range(len(self.images))])


def device(name: str, *, tolerance: float | None = None) -> Callable[[DeviceFn], DeviceFn]:
    """Register a device implementation for corruption ``name`` (``tolerance``: deterministic ones)."""

    def decorate(fn: DeviceFn) -> DeviceFn:
        DEVICE_CORRUPTIONS[name] = fn
        if tolerance is not None:
            TOLERANCE[name] = tolerance
        return fn

    return decorate


def has_device_path(name: str) -> bool:
    return name in DEVICE_CORRUPTIONS


def corrupt_on_device(
    corruption: Corruption, images: torch.Tensor, severity: int, indices: Sequence[int] | np.ndarray, *, seed: int = 0
) -> torch.Tensor:
    """Corrupt a float ``N x C x H x W`` batch in [0, 1] with the torch implementation, on its device."""
    severity = check_severity(severity)
    gray_in_rgb_out = corruption.rgb_only and images.shape[1] == 1
    work = images.expand(-1, 3, -1, -1) if gray_in_rgb_out else images
    batch = DeviceBatch(corruption, work.float(), severity, np.asarray(indices, dtype=np.int64), seed)
    out = DEVICE_CORRUPTIONS[corruption.name](batch).clamp_(0.0, 1.0)
    if gray_in_rgb_out:
        luma = torch.as_tensor(LUMA, device=out.device).view(1, 3, 1, 1)
        out = (out * luma).sum(1, keepdim=True).clamp_(0.0, 1.0)
    return out.to(images.dtype).contiguous()


def _per_image(values: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float32), device=like.device).view(-1, 1, 1, 1)


# noise --------------------------------------------------------------------------------------
@device("gaussian_noise")
def _gaussian_noise(b: DeviceBatch) -> torch.Tensor:
    sigma = float(b.parameter)  # type: ignore[arg-type]
    noise = b.per_sample(lambda g, shape: torch.randn(shape, generator=g, device=g.device))
    return b.images + noise * sigma


@device("speckle_noise")
def _speckle_noise(b: DeviceBatch) -> torch.Tensor:
    sigma = float(b.parameter)  # type: ignore[arg-type]
    noise = b.per_sample(lambda g, shape: torch.randn(shape, generator=g, device=g.device))
    return b.images * (1.0 + noise * sigma)


@device("shot_noise")
def _shot_noise(b: DeviceBatch) -> torch.Tensor:
    photons = float(b.parameter)  # type: ignore[arg-type]
    rates = b.images * photons
    counts = torch.stack([torch.poisson(rates[i], generator=b.generator(i)) for i in range(len(rates))])
    return counts / photons


@device("impulse_noise")
def _impulse_noise(b: DeviceBatch) -> torch.Tensor:
    amount = float(np.float32(b.parameter))  # type: ignore[arg-type]
    u = b.per_sample(lambda g, shape: torch.rand(shape, generator=g, device=g.device))
    out = b.images.masked_fill(u < amount, 1.0)
    return out.masked_fill_(u < amount / 2, 0.0)


# blur ---------------------------------------------------------------------------------------
def _conv_per_channel(images: torch.Tensor, kernel: torch.Tensor, pad_mode: str) -> torch.Tensor:
    """Correlate every channel with the 2-D ``kernel`` (odd sides), borders padded by ``pad_mode``."""
    n, c, h, w = images.shape
    kh, kw = kernel.shape
    flat = images.reshape(n * c, 1, h, w)
    padded = F.pad(flat, (kw // 2, kw // 2, kh // 2, kh // 2), mode=pad_mode)
    return F.conv2d(padded, kernel.view(1, 1, kh, kw)).view(n, c, h, w)


@device("gaussian_blur", tolerance=1e-4)
def _gaussian_blur(b: DeviceBatch) -> torch.Tensor:
    sigma = float(b.parameter)  # type: ignore[arg-type]
    taps = torch.tensor(_filters.gaussian_taps(sigma, 4.0), device=b.images.device)
    if len(taps) == 1:
        return b.images.clone()
    n, c, h, w = b.images.shape
    radius = len(taps) // 2
    flat = b.images.reshape(n * c, 1, h, w)
    rows = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="replicate"), taps.view(1, 1, 1, -1))
    cols = F.conv2d(F.pad(rows, (0, 0, radius, radius), mode="replicate"), taps.view(1, 1, -1, 1))
    return cols.view(n, c, h, w)


@device("defocus_blur", tolerance=1e-4)
def _defocus_blur(b: DeviceBatch) -> torch.Tensor:
    radius, alias_blur = b.parameter  # type: ignore[misc]
    kernel = torch.tensor(_filters.disk_kernel(float(radius), float(alias_blur)), device=b.images.device)
    return _conv_per_channel(b.images, kernel, "reflect")  # OpenCV's default border, BORDER_REFLECT_101


# digital and lighting -----------------------------------------------------------------------
@device("brightness", tolerance=1e-5)
def _brightness(b: DeviceBatch) -> torch.Tensor:
    value = b.images.amax(dim=1, keepdim=True)
    raised = (value + float(b.parameter)).clamp_(max=1.0)  # type: ignore[arg-type]
    return torch.where(value > 0, b.images * (raised / value.clamp(min=1e-12)), raised)


@device("contrast", tolerance=1e-5)
def _contrast(b: DeviceBatch) -> torch.Tensor:
    factor = float(b.parameter)  # type: ignore[arg-type]
    means = b.images.mean(dim=(2, 3), keepdim=True, dtype=torch.float64).float()
    return b.images * factor + means * (1.0 - factor)


@device("saturate", tolerance=1e-5)
def _saturate(b: DeviceBatch) -> torch.Tensor:
    factor, shift = (float(v) for v in b.parameter)  # type: ignore[attr-defined]
    value = b.images.amax(dim=1, keepdim=True)
    spread = value - b.images.amin(dim=1, keepdim=True)
    saturation = torch.where(value > 0, spread / value.clamp(min=1e-12), torch.zeros_like(value))
    new_spread = value * (saturation * factor + shift).clamp_(0.0, 1.0)
    coloured = value - (value - b.images) * (new_spread / spread.clamp(min=1e-12))
    gray = torch.cat([value, value - new_spread, value - new_spread], dim=1)  # skimage's hue 0 for gray pixels
    return torch.where(spread > 0, coloured, gray)


@device("brighten", tolerance=1e-5)
def _brighten(b: DeviceBatch) -> torch.Tensor:
    return b.images + float(b.parameter)  # type: ignore[arg-type]


@device("darken", tolerance=1e-5)
def _darken(b: DeviceBatch) -> torch.Tensor:
    return b.images * float(b.parameter)  # type: ignore[arg-type]


@device("contrast_loss", tolerance=1e-5)
def _contrast_loss(b: DeviceBatch) -> torch.Tensor:
    factor = float(b.parameter)  # type: ignore[arg-type]
    means = b.images.mean(dim=(1, 2, 3), keepdim=True, dtype=torch.float64).float()
    return b.images * factor + means * (1.0 - factor)


@device("gamma", tolerance=1e-5)
def _gamma(b: DeviceBatch) -> torch.Tensor:
    return b.images.pow(_per_image([p["gamma"] for p in b.params()], b.images))


@device("colour_temperature", tolerance=1e-5)
def _colour_temperature(b: DeviceBatch) -> torch.Tensor:
    gains = np.stack([p["gains"] for p in b.params()]).astype(np.float32)
    return b.images * torch.as_tensor(gains, device=b.images.device).view(-1, 3, 1, 1)


# occlusion ----------------------------------------------------------------------------------
def _occlude(b: DeviceBatch, fill: str) -> torch.Tensor:
    out = b.images.clone()
    for i, p in enumerate(b.params()):
        for x1, y1, x2, y2 in np.asarray(p["holes"]).tolist():
            region = out[i, :, y1:y2, x1:x2]
            if fill == "mean":
                region.copy_(b.images[i].mean(dim=(1, 2), dtype=torch.float64).float().view(-1, 1, 1).expand_as(region))
            elif fill == "noise":
                region.copy_(torch.rand(region.shape, generator=b.generator(i), device=region.device))
            else:
                region.zero_()
    return out


for _name, _fill in (("occlusion_patch", "black"), ("occlusion_patches", "black"), ("grid_dropout", "black"),
                     ("occlusion_patch_mean", "mean")):  # fmt: skip
    device(_name, tolerance=1e-6)(lambda b, fill=_fill: _occlude(b, fill))
device("occlusion_patch_noise")(lambda b: _occlude(b, "noise"))


# JPEG ---------------------------------------------------------------------------------------
@device("jpeg_compression", tolerance=1e-4)
def _jpeg(b: DeviceBatch) -> torch.Tensor:
    """torchvision's codec (nvJPEG on CUDA, libjpeg-turbo on CPU) at the table's quality, 4:2:0 as the CPU path."""
    from torchvision.io import decode_jpeg, encode_jpeg

    pixels = (b.images * 255.0).round_().clamp_(0.0, 255.0).to(torch.uint8)
    with warnings.catch_warnings():  # torchvision 0.29 deprecates its codecs for torchcodec; they still work
        warnings.simplefilter("ignore", DeprecationWarning)
        encoded = encode_jpeg(list(pixels), quality=int(b.parameter))  # type: ignore[call-overload]
        decoded = decode_jpeg([e.cpu() for e in encoded], device=b.images.device)
    return torch.stack(decoded).float().div_(255.0)


# geometric ----------------------------------------------------------------------------------
def _warp(b: DeviceBatch, matrices: Sequence[np.ndarray]) -> torch.Tensor:
    """Bilinear warp of each sample by its ``dst <- src`` matrix (2x3 or 3x3), black outside the image.

    The output pixel ``(x, y)`` samples the input at ``M^-1 (x, y)``, as OpenCV's warps do;
    the same sampling positions as OpenCV on float images (tests: within 1e-5).
    """
    n, _, h, w = b.images.shape
    dev = b.images.device
    square = [np.vstack([m, [0.0, 0.0, 1.0]]) if np.shape(m) == (2, 3) else np.asarray(m) for m in matrices]
    inverse = torch.as_tensor(np.linalg.inv(np.stack(square).astype(np.float64)), dtype=torch.float64, device=dev)
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float64, device=dev), torch.arange(w, dtype=torch.float64, device=dev), indexing="ij"
    )
    points = torch.stack([xs.flatten(), ys.flatten(), torch.ones(h * w, dtype=torch.float64, device=dev)])
    source = inverse @ points  # n x 3 x HW
    sx, sy = source[:, 0] / source[:, 2], source[:, 1] / source[:, 2]
    grid = torch.stack([2.0 * sx / max(w - 1, 1) - 1.0, 2.0 * sy / max(h - 1, 1) - 1.0], dim=-1)
    grid = grid.view(n, h, w, 2).to(b.images.dtype)
    return F.grid_sample(b.images, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


for _name in ("rotation", "translation", "scale", "shear", "perspective"):
    device(_name, tolerance=1e-4)(lambda b: _warp(b, [p["matrix"] for p in b.params()]))
