"""Adaptive attacks on defenses: BPDA and EOT gradient surrogates (Athalye et al. 2018).

A surrogate is an ``nn.Module`` that any attack of the suite can take gradients through,
and that names the model success is judged on as ``true_model``. :meth:`Attack.sweep
<attacks.base.Attack.sweep>` computes clean accuracy and verifies every adversarial on
``true_model``, never on the surrogate, so a surrogate can only make an attack stronger,
never make a number look better.

* :class:`BPDA` (Backward Pass Differentiable Approximation) runs the true model's forward
  pass unchanged and replaces the backward pass of its non-differentiable layers (input
  quantization, JPEG, median filters ...) by the identity, a clipped straight-through
  estimator, or the gradient of a differentiable approximation you supply.
* :class:`EOT` (Expectation over Transformation) averages the outputs of ``samples``
  random draws of a randomized model, so an attack's gradient is the draws' gradients
  averaged.

Mark a defense's preprocessing step with :class:`InputTransform` (or build the whole model
with :func:`with_preprocessing`) and ``BPDA(model)`` finds it on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from attacks.base import model_bounds, model_device, true_model
from robustness.core import params
from robustness.core.errors import UsageError
from robustness.models.classifier import Classifier

Transform = Callable[[torch.Tensor], torch.Tensor]
BACKWARDS = ("identity", "straight_through")


class InputTransform(nn.Module):
    """A pixel-space preprocessing step as a layer (e.g. a defense's quantization or JPEG)."""

    def __init__(self, fn: Transform, *, name: str = "") -> None:
        super().__init__()
        self.fn = fn
        self.label = name or getattr(fn, "__name__", type(fn).__name__)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.label


def with_preprocessing(classifier: Classifier, fn: Transform, *, name: str = "") -> Classifier:
    """``classifier`` behind a pixel-space preprocessing step ``fn``, as a new ``Classifier``."""
    inner = nn.Sequential(InputTransform(fn, name=name), classifier).eval()
    return Classifier(
        inner,
        num_classes=classifier.num_classes,
        input_shape=classifier.input_shape,
        bounds=classifier.bounds,
        name=f"{classifier.name}+{name or getattr(fn, '__name__', 'transform')}",
    )


class _Surrogate(nn.Module):
    """Shared plumbing: expose the true model's bounds, classes, shape and device."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.inner = model
        self.eval()

    @property
    def true_model(self) -> nn.Module:
        return true_model(self.inner)

    @property
    def bounds(self) -> tuple[float, float]:
        return model_bounds(self.inner)

    @property
    def device(self) -> torch.device:
        return model_device(self.true_model)

    @property
    def num_classes(self) -> int | None:
        return getattr(self.true_model, "num_classes", None)

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        return getattr(self.true_model, "input_shape", None)

    def train(self, mode: bool = True) -> _Surrogate:  # noqa: FBT001, FBT002 - nn.Module signature
        """Surrogates stay in eval mode, like the Classifier they wrap."""
        return super().train(False)


class BPDA(_Surrogate):
    """Exact forward pass, approximate backward pass through non-differentiable ``layers``.

    Args:
        model: the defended model (a ``Classifier`` or another surrogate).
        layers: the non-differentiable submodules of ``model``; by default every
            :class:`InputTransform` inside it.
        backward: ``"identity"`` (gradient passes unchanged), ``"straight_through"`` (passes
            where the layer's input lies inside the pixel bounds, zero outside: the clipped
            straight-through estimator of quantizers) or a differentiable function ``g`` with
            ``g(x) ~ layer(x)`` whose gradient is used instead.

    The forward values are exactly those of ``model``; only gradients change. Layers whose
    output shape differs from their input need a callable ``backward``.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        layers: Sequence[nn.Module] | None = None,
        backward: str | Transform = "identity",
    ) -> None:
        super().__init__(model)
        if not callable(backward):
            params.choice("BPDA", "backward", backward, BACKWARDS)
        found = [m for m in model.modules() if isinstance(m, InputTransform)] if layers is None else list(layers)
        if not found:
            raise UsageError(
                "BPDA: layers should name the model's non-differentiable layers, but none were given and the "
                "model holds no InputTransform; pass layers=[...] or build the model with "
                "attacks.adaptive.with_preprocessing."
            )
        owned = {id(m) for m in model.modules()}
        stray = [type(m).__name__ for m in found if id(m) not in owned]
        if stray:
            raise UsageError(f"BPDA: layers should be submodules of model, but got foreign layers: {', '.join(stray)}.")
        self.layers = found
        self.backward = backward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with self._approximated():
            return self.inner(x)

    @contextmanager
    def _approximated(self) -> Iterator[None]:
        handles = [layer.register_forward_hook(self._hook) for layer in self.layers]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _hook(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        inp = inputs[0]
        if callable(self.backward):
            approx = self.backward(inp)
            return approx + (output - approx).detach()
        if output.shape != inp.shape:
            raise UsageError(
                f"BPDA: backward={self.backward!r} needs a layer whose output has its input's shape, but "
                f"{type(module).__name__} maps {tuple(inp.shape)} to {tuple(output.shape)}; pass a callable backward."
            )
        through = inp
        if self.backward == "straight_through":
            lo, hi = self.bounds
            inside = ((inp >= lo) & (inp <= hi)).to(inp.dtype)
            through = inp * inside + (inp * (1 - inside)).detach()
        return through + (output - through).detach()

    def extra_repr(self) -> str:
        name = self.backward if isinstance(self.backward, str) else getattr(self.backward, "__name__", "callable")
        return f"backward={name}, layers={len(self.layers)}"


class EOT(_Surrogate):
    """Average ``samples`` random draws of a randomized model (Expectation over Transformation).

    Args:
        model: the randomized model (or a surrogate of it, e.g. ``EOT(BPDA(model))``).
        samples: draws per forward pass; the batch is repeated ``samples`` times and run at once.
        average: ``"logits"`` (mean logits; the gradient is the draws' Jacobians averaged) or
            ``"probs"`` (log of the mean softmax: the expected classifier of the original paper).
    """

    def __init__(self, model: nn.Module, *, samples: int = 8, average: str = "logits") -> None:
        super().__init__(model)
        self.samples = params.positive_int("EOT", "samples", samples)
        self.average = params.choice("EOT", "average", average, ("logits", "probs"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = len(x)
        out = self.inner(x.repeat(self.samples, *([1] * (x.ndim - 1))))
        out = out.view(self.samples, n, *out.shape[1:])
        if self.average == "logits":
            return out.mean(0)
        return out.softmax(-1).mean(0).clamp_min(1e-30).log()

    def extra_repr(self) -> str:
        return f"samples={self.samples}, average={self.average}"


def eot_samples(model: nn.Module) -> int:
    """Draws averaged by the EOT wrappers around ``model`` (1 when there are none)."""
    k = 1
    while isinstance(model, _Surrogate):
        if isinstance(model, EOT):
            k *= model.samples
        model = model.inner
    return k
