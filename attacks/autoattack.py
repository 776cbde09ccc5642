"""AutoAttack (Croce & Hein 2020) as composite attacks of the suite: ``standard`` and ``rand``.

``autoattack_linf`` / ``autoattack_l2`` run AutoAttack's standard version: APGD-CE, APGD-T
(9 target classes), FAB-T (9 target classes) and Square (5000 queries), 100 iterations and
one restart each, in that order, each on the samples the previous ones left robust.
``autoattack_rand_*`` run the version for randomized models: APGD-CE and APGD-DLR with
20 EOT iterations per gradient. ``apgd_lite_*`` (not AutoAttack; the embedded audit's
default) run APGD-CE then APGD-T with 3 targets at 25 iterations each.

They are :class:`~attacks.base.FixedBudgetAttack` subclasses, so the base gives them what
the authors' ``run_standard_evaluation`` does by hand and more: clean-correct samples only,
every adversarial re-verified inside the ball, epsilon sweeps in ascending order where a
sample fooled at a small budget is not attacked again, per-sample keyed randomness.

Components are resolved by registered name when the attack runs (``fab_t_linf``,
``square_linf`` live in :mod:`attacks.fab` and :mod:`attacks.square`) with their own
defaults, which are the published settings; a component that is not registered is refused
with the reason. Components whose loss needs more classes than the model has (APGD-T needs
4) are skipped, and :func:`attacks.sanity.run_checks` flags the evaluation as incomplete.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from attacks.base import ATTACKS, Attack, FixedBudgetAttack, successful, true_model
from attacks.geometry import Norm
from robustness.core import params
from robustness.core.errors import UsageError

#: AutoAttack's versions: (component prefix, hyperparameters) in the order they run
VERSIONS: dict[str, tuple[tuple[str, dict[str, Any]], ...]] = {
    "standard": (("apgd_ce", {}), ("apgd_t", {}), ("fab_t", {}), ("square", {})),
    "rand": (("apgd_ce", {"eot_iter": 20}), ("apgd_dlr", {"eot_iter": 20})),
    # the embedded audit's default: AutoAttack's two APGD parts at a quarter of the iterations, 3 targets
    "lite": (("apgd_ce", {}), ("apgd_t", {"n_target_classes": 3})),
}
#: APGD iterations per version (the published 100; ``lite`` trades strength for time, see BENCHMARKS.md)
ITERATIONS = {"standard": 100, "rand": 100, "lite": 25}


def component_names(version: str, norm: Norm) -> list[str]:
    """Registered names of a version's components for ``norm``, in running order."""
    return [f"{prefix}_{norm.value}" for prefix, _ in VERSIONS[version]]


class _AutoAttack(FixedBudgetAttack):
    """Shared composite; subclasses set ``name``, ``norm`` and ``version``."""

    version: ClassVar[str] = "standard"
    #: a composite of other registered attacks (``--attacks all`` leaves composites out)
    composite: ClassVar[bool] = True

    def __init__(self, *, n_iter: int | None = None) -> None:
        """``n_iter``: APGD iterations of the components (None: the version's, :data:`ITERATIONS`)."""
        self.n_iter = params.optional_positive_int(self.name, "n_iter", n_iter)

    def components(self) -> list[Attack]:
        """The version's attacks, built from the registry (raises if one is not registered)."""
        out = []
        for prefix, hyper in VERSIONS[self.version]:
            name = f"{prefix}_{self.norm.value}"
            if name not in ATTACKS:
                raise UsageError(
                    f"{self.name} runs {', '.join(component_names(self.version, self.norm))}, but {name!r} is not "
                    f"registered in this build; install the full suite or run the components that exist."
                )
            cls = ATTACKS.get(name)
            iterations = self.n_iter or ITERATIONS[self.version]
            extra = {"n_iter": iterations} if prefix.startswith("apgd") else {}
            out.append(cls(**hyper, **extra))
        return out

    def describe(self) -> dict[str, Any]:
        suite = "apgd-lite (weaker than AutoAttack)" if self.version == "lite" else f"autoattack-{self.version}"
        return {**super().describe(), "suite": suite, "components": self._names()}

    def _names(self) -> list[str]:
        return component_names(self.version, self.norm)

    def perturb(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        epsilon: float,
        *,
        seed: int,
        targets: torch.Tensor | None,
        state: torch.Tensor | None,
    ) -> torch.Tensor:
        """Each component in turn on the samples still robust (judged on the true model)."""
        out = x.detach().clone()
        if epsilon == 0 or not len(x):
            return out
        with torch.no_grad():
            classes = int(true_model(model)(x[:1]).shape[1])
        pending = torch.arange(len(x), device=x.device)
        for attack in self.components():
            if not len(pending):
                break
            if classes < getattr(attack, "min_classes", 2):
                continue
            adv = attack.perturb(model, x[pending], y[pending], epsilon, seed=seed, targets=None, state=None).detach()
            out[pending] = adv.to(out.dtype)
            with torch.no_grad():
                hit = successful(true_model(model)(adv), y[pending], None)
            pending = pending[~hit]
        return out


@ATTACKS.register("autoattack_linf")
class LinfAutoAttack(_AutoAttack):
    """AutoAttack standard (Croce & Hein 2020), Linf: APGD-CE, APGD-T, FAB-T, Square in turn."""

    name = "autoattack_linf"
    norm = Norm.LINF


@ATTACKS.register("autoattack_l2")
class L2AutoAttack(_AutoAttack):
    """AutoAttack standard (Croce & Hein 2020), L2: APGD-CE, APGD-T, FAB-T, Square in turn."""

    name = "autoattack_l2"
    norm = Norm.L2


@ATTACKS.register("autoattack_rand_linf")
class LinfAutoAttackRand(_AutoAttack):
    """AutoAttack rand (Croce & Hein 2020), Linf, for randomized models: APGD-CE, APGD-DLR with 20-draw EOT."""

    name = "autoattack_rand_linf"
    norm = Norm.LINF
    version = "rand"


@ATTACKS.register("autoattack_rand_l2")
class L2AutoAttackRand(_AutoAttack):
    """AutoAttack rand (Croce & Hein 2020), L2, for randomized models: APGD-CE, APGD-DLR with 20-draw EOT."""

    name = "autoattack_rand_l2"
    norm = Norm.L2
    version = "rand"


@ATTACKS.register("apgd_lite_linf")
class LinfAPGDLite(_AutoAttack):
    """APGD-CE then APGD-T (3 targets) on what it left robust, 25 iterations each, Linf: the audit's default."""

    name = "apgd_lite_linf"
    norm = Norm.LINF
    version = "lite"


@ATTACKS.register("apgd_lite_l2")
class L2APGDLite(_AutoAttack):
    """APGD-CE then APGD-T (3 targets) on what it left robust, 25 iterations each, L2: the audit's default."""

    name = "apgd_lite_l2"
    norm = Norm.L2
    version = "lite"
