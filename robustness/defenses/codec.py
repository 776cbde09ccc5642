"""Pixel-space image operations behind the input-transformation defenses, batched in torch.

* :func:`jpeg`: baseline JPEG compression and decompression (8x8 DCT, the IJG quality-scaled
  quantization tables, integer pixels after decoding). Colour images go through YCbCr
  without chroma subsampling (4:4:4); single-channel images are coded as luma. It matches
  PIL/libjpeg to within a few grey levels, and it is built from torch operations, so
  autograd's gradient through it is what a naive attack sees: zero almost everywhere,
  because of the rounding.
* :func:`bit_depth`: reduce each pixel to ``bits`` bits (Xu et al. 2018), optionally with
  random dithering.
* :func:`median_filter`: a ``size`` x ``size`` median filter with reflected borders.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import torch
import torch.nn.functional as F

#: the JPEG standard's (Annex K) luminance and chrominance quantization tables
LUMA_TABLE = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
CHROMA_TABLE = (
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, *([99] * 32),
)  # fmt: skip


def quantization_table(quality: int, *, chroma: bool = False) -> torch.Tensor:
    """The 8x8 table libjpeg uses at ``quality`` (1..100), IJG scaling, entries in 1..255."""
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    base = torch.tensor(CHROMA_TABLE if chroma else LUMA_TABLE, dtype=torch.float64).view(8, 8)
    return torch.floor((base * scale + 50) / 100).clamp(1, 255).to(torch.float32)


def _dct_matrix() -> torch.Tensor:
    k = torch.arange(8, dtype=torch.float64)
    m = torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    m[0] /= math.sqrt(2)
    return m.to(torch.float32)


_DCT = _dct_matrix()
_RGB_TO_YCBCR = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=torch.float32
)


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG-compress and decode a batch ``[N, C, H, W]`` in [0, 1] (C = 1 or 3) at ``quality``."""
    n, c, h, w = x.shape
    pixels = x * 255
    if c == 3:
        planes = torch.einsum("ij,njhw->nihw", _RGB_TO_YCBCR.to(x.device), pixels)
        planes = planes + torch.tensor([0.0, 128.0, 128.0], device=x.device).view(1, 3, 1, 1)
        tables = [quantization_table(quality), *[quantization_table(quality, chroma=True)] * 2]
    else:
        planes = pixels
        tables = [quantization_table(quality)] * c
    pad_h, pad_w = (-h) % 8, (-w) % 8
    if pad_h or pad_w:
        planes = F.pad(planes, (0, pad_w, 0, pad_h), mode="replicate")
    hh, ww = planes.shape[2], planes.shape[3]
    blocks = (planes - 128).view(n, c, hh // 8, 8, ww // 8, 8).permute(0, 1, 2, 4, 3, 5)
    dct = _DCT.to(x.device)
    coeffs = dct @ blocks @ dct.T
    table = torch.stack(tables).to(x.device).view(1, c, 1, 1, 8, 8)
    coeffs = torch.round(coeffs / table) * table
    decoded = (dct.T @ coeffs @ dct).permute(0, 1, 2, 4, 3, 5).reshape(n, c, hh, ww)[:, :, :h, :w] + 128
    if c == 3:
        decoded = decoded - torch.tensor([0.0, 128.0, 128.0], device=x.device).view(1, 3, 1, 1)
        inverse = torch.linalg.inv(_RGB_TO_YCBCR).to(x.device)
        decoded = torch.einsum("ij,njhw->nihw", inverse, decoded)
    return torch.round(decoded.clamp(0, 255)) / 255


def bit_depth(x: torch.Tensor, bits: int, *, dither: float = 0.0, seed: int = 0) -> torch.Tensor:
    """Round each pixel to one of ``2**bits`` levels; ``dither`` adds uniform noise of that many steps first.

    The noise of each image is keyed by ``(seed, its content, how often that content already
    appeared in the batch)``: the same image gets the same noise in any batch, on any backend
    and after a resume, while the copies EOT stacks into one batch each get their own draw.
    """
    levels = 2**bits - 1
    scaled = x * levels
    if dither > 0:
        scaled = scaled + dither * (content_keyed_uniform(x, seed) - 0.5)
    return torch.round(scaled).clamp(0, levels) / levels


def content_keyed_uniform(x: torch.Tensor, seed: int) -> torch.Tensor:
    """Uniform [0, 1) noise shaped like ``x``, one generator per image keyed by its content (see ``bit_depth``)."""
    rows = x.detach().cpu().contiguous().numpy()
    seen: dict[int, int] = {}
    noise = []
    for row in rows:
        crc = zlib.crc32(row.tobytes())
        seen[crc] = seen.get(crc, -1) + 1
        key = np.random.SeedSequence([seed & 0xFFFFFFFF, crc, seen[crc]]).generate_state(2)
        generator = torch.Generator().manual_seed(int(key[0]) << 32 | int(key[1]))
        noise.append(torch.rand(row.shape, generator=generator))
    return torch.stack(noise).to(x.device, x.dtype) if noise else torch.zeros_like(x)


def median_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    """Median over ``size`` x ``size`` windows (odd size), borders reflected."""
    pad = size // 2
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect") if pad else x
    n, c, h, w = x.shape
    windows = F.unfold(padded.reshape(n * c, 1, h + 2 * pad, w + 2 * pad), kernel_size=size)
    return windows.median(dim=1).values.view(n, c, h, w)
