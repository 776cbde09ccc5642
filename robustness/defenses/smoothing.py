"""Randomized smoothing (Cohen, Rosenfeld & Kolter 2019): Gaussian-noise training and L2 certification.

The smoothed classifier ``g(x) = argmax_c P(f(x + N(0, sigma^2 I)) = c)`` is certified per
sample by Cohen et al.'s CERTIFY:

1. *selection*: the top class ``c_A`` among ``n0`` noisy predictions;
2. *estimation*: ``k`` = how many of ``n`` fresh noisy predictions are ``c_A``;
   ``pA_lower`` = the one-sided ``1 - alpha`` Clopper-Pearson lower bound of ``k / n``;
3. *abstain* when ``pA_lower <= 1/2`` (Cohen et al.'s rule); otherwise predict ``c_A`` with the certified L2
   radius ``sigma * Phi^-1(pA_lower)``.

A sample is certified correct at radius ``r`` when ``g`` does not abstain, predicts its
label, and its radius is at least ``r``. With ``n`` draws the largest radius any sample can
get is ``sigma * Phi^-1(alpha ** (1 / n))`` (all ``n`` draws agree): :attr:`max_radius`.

The noise of each sample is drawn from a generator keyed by ``(seed, sample id)``, so the
certificate does not depend on batch size or order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import beta as _beta
from scipy.stats import norm as _normal
from torch import nn

from robustness.core import params
from robustness.core.errors import UsageError
from robustness.defenses.base import DEFENSES, LossFn, TrainingDefense

ABSTAIN = -1


@dataclass(frozen=True)
class Certificate:
    """Per-sample outcome of CERTIFY: prediction (``ABSTAIN`` = -1) and certified L2 radius."""

    prediction: np.ndarray  # [N] int64
    radius: np.ndarray  # [N] float64, 0 where abstained
    p_lower: np.ndarray  # [N] float64

    def certified_correct(self, labels: np.ndarray, radius: float) -> np.ndarray:
        """``[N]`` bool: not abstained, correct, and certified at ``radius`` (inclusive)."""
        return (self.prediction == np.asarray(labels)) & (self.radius >= radius)

    @property
    def abstained(self) -> np.ndarray:
        return self.prediction == ABSTAIN


def clopper_pearson_lower(k: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """One-sided ``1 - alpha`` Clopper-Pearson lower bound of a binomial proportion ``k / n``."""
    k = np.asarray(k, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        lower = _beta.ppf(alpha, k, n - k + 1)
    return np.where(k > 0, lower, 0.0)


@DEFENSES.register("smoothing")
class RandomizedSmoothing(TrainingDefense):
    """Randomized smoothing (Cohen et al. 2019): Gaussian-noise training and certified L2 radii.

    Args:
        sigma: standard deviation of the Gaussian noise, in pixel units, for training and certification.
        n0: noisy predictions for selecting the top class.
        n: noisy predictions for estimating its probability.
        alpha: failure probability of the certificate (the bound holds with probability 1 - alpha).
        radii: L2 radii at which certified accuracy is reported (above :attr:`max_radius` it is 0 by
            construction: raise ``n`` to certify larger radii).
        batch: noisy images per forward pass during certification.
        epochs: training epochs.
    """

    name = "smoothing"
    schedule = ("epochs", "n0", "n", "alpha", "radii", "batch")
    certifies = True

    def __init__(
        self,
        *,
        sigma: float = 0.25,
        n0: int = 64,
        n: int = 512,
        alpha: float = 0.001,
        radii: Sequence[float] = (0.0, 0.25, 0.5),
        batch: int = 1024,
        epochs: int = 15,
    ) -> None:
        self.sigma = params.positive_float(self.label, "sigma", sigma)
        self.n0 = params.positive_int(self.label, "n0", n0)
        self.n = params.positive_int(self.label, "n", n)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 0.5:
            raise UsageError(f"defense 'smoothing': alpha should be a probability in (0, 0.5), but got {alpha!r}.")
        self.alpha = float(alpha)
        values = [radii] if isinstance(radii, (int, float)) else list(radii)
        if not values or any(isinstance(r, bool) or not isinstance(r, (int, float)) or r < 0 for r in values):
            raise UsageError(
                f"defense 'smoothing': radii should be non-negative L2 radii like 0.25,0.5, but got {radii!r}."
            )
        self.radii = tuple(sorted({float(r) for r in values}))
        self.batch = params.positive_int(self.label, "batch", batch)
        self.epochs = params.positive_int(self.label, "epochs", epochs)

    @property
    def max_radius(self) -> float:
        """The largest radius any sample can be certified at with ``n`` draws and ``alpha``."""
        return float(self.sigma * _normal.ppf(self.alpha ** (1 / self.n)))

    def loss(self, *, num_classes: int) -> LossFn:
        def gaussian_noise_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(model(x + self.sigma * torch.randn_like(x)), y)

        return gaussian_noise_loss

    @torch.no_grad()
    def _counts(self, classifier: nn.Module, image: torch.Tensor, draws: int, generator: torch.Generator) -> np.ndarray:
        num_classes = int(classifier.num_classes)
        counts = np.zeros(num_classes, dtype=np.int64)
        device = image.device
        remaining = draws
        while remaining > 0:
            size = min(self.batch, remaining)
            noise = torch.randn((size, *image.shape), generator=generator).to(device, image.dtype)
            predictions = classifier(image[None] + self.sigma * noise).argmax(1).cpu().numpy()
            counts += np.bincount(predictions, minlength=num_classes)
            remaining -= size
        return counts

    def certify(self, classifier: nn.Module, images: torch.Tensor, sample_ids: np.ndarray, *, seed: int) -> Certificate:
        """CERTIFY every image of ``images`` (``[N, C, H, W]`` in [0, 1]) with the base ``classifier``."""
        n = len(images)
        prediction = np.full(n, ABSTAIN, dtype=np.int64)
        radius = np.zeros(n, dtype=np.float64)
        p_lower = np.zeros(n, dtype=np.float64)
        device = getattr(classifier, "device", torch.device("cpu"))
        for i in range(n):
            key = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(sample_ids[i]) & 0xFFFFFFFF]).generate_state(2)
            generator = torch.Generator().manual_seed(int(key[0]) << 32 | int(key[1]))
            image = images[i].to(device)
            top = int(self._counts(classifier, image, self.n0, generator).argmax())
            k = int(self._counts(classifier, image, self.n, generator)[top])
            p_lower[i] = float(clopper_pearson_lower(np.array([k]), self.n, self.alpha)[0])
            if p_lower[i] > 0.5:
                prediction[i] = top
                radius[i] = self.sigma * float(_normal.ppf(p_lower[i]))
        return Certificate(prediction, radius, p_lower)

    def summary_table(self, certificate: Certificate, labels: np.ndarray) -> dict[str, object]:
        """Certified accuracy per radius and the abstain rate, as plain data for a run's artifacts."""
        return {
            "sigma": self.sigma,
            "n0": self.n0,
            "n": self.n,
            "alpha": self.alpha,
            "max_radius": self.max_radius,
            "samples": int(len(labels)),
            "abstain_rate": float(certificate.abstained.mean()) if len(labels) else 0.0,
            "radii": list(self.radii),
            "certified_accuracy": [float(certificate.certified_correct(labels, r).mean()) for r in self.radii],
        }
