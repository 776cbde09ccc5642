"""The defense abstraction: a registry of small classes with keyword-only hyperparameters.

Two kinds (:class:`DefenseKind`):

* **training** defenses change how a built-in model is trained: :meth:`TrainingDefense.loss`
  is the training loss (``(model, images, labels) -> loss``, images in pixel space [0, 1])
  and :meth:`TrainingDefense.recipe` the :class:`~robustness.models.TrainRecipe` that keys
  the weight cache;
* **transform** defenses put a pixel-space preprocessing step in front of any model:
  :meth:`TransformDefense.wrap` is the defended model (a ``Classifier``; what success is
  judged on), :meth:`TransformDefense.adaptive` the gradient surrogate adaptive attacks
  use (BPDA for the non-differentiable step, EOT when the step is random).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from enum import Enum
from typing import Any, ClassVar

import torch
from torch import nn

from robustness.core.errors import UsageError
from robustness.core.params import Hyperparameters
from robustness.core.registry import Registry

#: (model, images in [0, 1], labels) -> scalar training loss
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


class DefenseKind(str, Enum):
    TRAINING = "training"
    TRANSFORM = "transform"


class Defense(ABC, Hyperparameters):
    """Base class: subclasses set ``name``/``kind`` and take keyword-only hyperparameters.

    Hyperparameters are stored under their argument name; :meth:`hyperparameters`,
    :meth:`defaults` and ``repr`` read them back (the repr doubles as a pytest id).
    """

    name: ClassVar[str]
    kind: ClassVar[DefenseKind]

    @property
    def label(self) -> str:
        """How error messages name this defense."""
        return f"defense {self.name!r}"

    @classmethod
    def summary(cls) -> str:
        doc = inspect.getdoc(cls) or ""
        return doc.splitlines()[0] if doc else ""

    def describe(self) -> dict[str, Any]:
        """Plain data for run records and reports."""
        return {
            "name": self.name,
            "kind": self.kind.value,
            "summary": self.summary(),
            "hyperparameters": self.hyperparameters(),
        }

    def check_model(self, classifier: nn.Module) -> None:  # noqa: B027 - optional hook, applies by default
        """Raise :class:`UsageError` when the defense cannot apply to ``classifier`` (default: it can)."""

    def __repr__(self) -> str:
        defaults = self.defaults()
        changed = {k: v for k, v in self.hyperparameters().items() if v != defaults[k]}
        if not changed:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"


class TrainingDefense(Defense):
    """A defense applied at training time through the training loss."""

    kind = DefenseKind.TRAINING
    #: hyperparameters of the schedule (TrainRecipe fields), not of the loss
    schedule: ClassVar[tuple[str, ...]] = ("epochs",)
    #: whether the defense also certifies predictions after training (randomized smoothing)
    certifies: ClassVar[bool] = False
    epochs: int

    @abstractmethod
    def loss(self, *, num_classes: int) -> LossFn:
        """The training loss on pixel-space images."""

    def loss_params(self) -> dict[str, Any]:
        """Hyperparameters that shape the loss: what ``TrainRecipe.defense_params`` holds."""
        return {k: v for k, v in self.hyperparameters().items() if k not in self.schedule}

    def recipe(self) -> Any:
        """The :class:`~robustness.models.training.TrainRecipe` that trains (and caches) this defense."""
        from robustness.models.training import TrainRecipe

        return TrainRecipe(epochs=self.epochs, defense=self.name, defense_params=self.loss_params())


class TransformDefense(Defense):
    """A pixel-space input transformation in front of any model."""

    kind = DefenseKind.TRANSFORM
    #: the BPDA backward pass for the transform: "identity", "straight_through" or "exact" (no BPDA)
    backward: str = "identity"
    #: draws per forward pass of the EOT surrogate when the transform is random
    eot_samples: int = 8

    @property
    def randomized(self) -> bool:
        """Whether two passes over the same image may differ (then attacks need EOT)."""
        return False

    @abstractmethod
    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """The preprocessing itself: images in [0, 1] -> images in [0, 1], same shape."""

    def wrap(self, classifier: nn.Module) -> nn.Module:
        """The defended model: ``classifier`` behind :meth:`transform`, as a ``Classifier``.

        Naive attacks take autograd's gradient of this model, straight through the
        non-differentiable step (zero almost everywhere for rounding): the number that looks
        robust only because gradients are broken.
        """
        from attacks.adaptive import with_preprocessing

        self.check_model(classifier)
        return with_preprocessing(classifier, self.transform, name=repr(self))

    def adaptive(self, defended: nn.Module) -> nn.Module:
        """The surrogate adaptive attacks take gradients through (success is judged on ``defended``).

        BPDA replaces the backward pass of the transform (``backward``) and EOT averages
        ``eot_samples`` draws when the transform is random (Athalye et al. 2018).
        """
        from attacks.adaptive import BPDA, EOT

        model: nn.Module = defended
        if self.backward != "exact":
            model = BPDA(model, backward=self.backward)
        if self.randomized:
            model = EOT(model, samples=self.eot_samples)
        return model

    def check_model(self, classifier: nn.Module) -> None:
        bounds = tuple(getattr(classifier, "bounds", (0.0, 1.0)))
        if bounds != (0.0, 1.0):
            raise UsageError(
                f"defense {self.name!r} works on pixel values in [0, 1], but the model's bounds are {bounds}; "
                "wrap the model in a Classifier with bounds=(0, 1) (it owns the normalization)."
            )


DEFENSES: Registry[type[Defense]] = Registry("defense")
