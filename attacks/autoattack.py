"""AutoAttack (Croce & Hein 2020) as composite attacks of the suite: ``standard`` and ``rand``.

``autoattack_linf`` / ``autoattack_l2`` run AutoAttack's standard version: APGD-CE, APGD-T
(9 target classes), FAB-T (9 target classes) and Square (5000 queries), 100 iterations and
one restart each, in that order, each on the samples the previous ones left robust.
``autoattack_rand_*`` run the version for randomized models: APGD-CE and APGD-DLR with
20 EOT iterations per gradient. ``apgd_lite_*`` (not AutoAttack; the embedded audit's
default) run APGD-CE then APGD-T with 3 targets at 25 iterations each, then FAB-T (9 targets,
10 iterations), the APGD parts largest budget first (:attr:`_AutoAttack.largest_first`).

They run each component's own sweep in turn, at each epsilon only on the samples the
earlier components left robust there (AutoAttack's order), so the base gives them what the
authors' ``run_standard_evaluation`` does by hand and more: clean-correct samples only,
every adversarial re-verified inside the ball, epsilon sweeps in ascending order where a
sample fooled at a small budget is not attacked again, FAB-T's one minimum-norm run serving
every budget, per-sample keyed randomness.

Components are resolved by registered name when the attack runs (``fab_t_linf``,
``square_linf`` live in :mod:`attacks.fab` and :mod:`attacks.square`) with their own
defaults, which are the published settings; a component that is not registered is refused
with the reason. Components whose loss needs more classes than the model has (APGD-T needs
4) are skipped, and :func:`attacks.sanity.run_checks` flags the evaluation as incomplete.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from attacks.base import ATTACKS, Attack, _Outcome, true_model
from attacks.geometry import Norm
from robustness.core import params
from robustness.core.errors import UsageError

#: AutoAttack's versions: (component prefix, hyperparameters over the component's defaults) in running
#: order. The components' own defaults are the published settings (100 iterations, 9 targets, 5000 queries).
VERSIONS: dict[str, tuple[tuple[str, dict[str, Any]], ...]] = {
    "standard": (("apgd_ce", {}), ("apgd_t", {}), ("fab_t", {}), ("square", {})),
    "rand": (("apgd_ce", {"eot_iter": 20}), ("apgd_dlr", {"eot_iter": 20})),
    # the embedded audit's default (not AutoAttack): APGD at a quarter of the iterations with 3 targets, then
    # a short FAB-T over all 9 targets, which finds the far-target samples APGD-T's 3 miss (BENCHMARKS.md)
    "lite": (
        ("apgd_ce", {"n_iter": 25}),
        ("apgd_t", {"n_iter": 25, "n_target_classes": 3}),
        ("fab_t", {"n_iter": 10}),
    ),
}


def component_names(version: str, norm: Norm) -> list[str]:
    """Registered names of a version's components for ``norm``, in running order."""
    return [f"{prefix}_{norm.value}" for prefix, _ in VERSIONS[version]]


class _AutoAttack(Attack):
    """Shared composite; subclasses set ``name``, ``norm`` and ``version``."""

    version: ClassVar[str] = "standard"
    #: a composite of other registered attacks (``--attacks all`` leaves composites out)
    composite: ClassVar[bool] = True
    #: fixed-budget components attack a sample at the largest budget where it is still robust first, and at a
    #: smaller one only if they fooled it there: a sample they cannot fool inside the large ball counts as
    #: robust in the smaller ones without a run of its own there. Measured (BENCHMARKS.md "Default audit"): never
    #: a higher robust accuracy than the ascending order on the default model and the three cross-check models
    #: (the same at every budget but one, where it fooled one sample more), in about four fifths of the time, as
    #: most samples are robust at the small budgets. AutoAttack's own versions keep its per-budget runs.
    largest_first: ClassVar[bool] = False

    def __init__(self, *, n_iter: int | None = None, n_queries: int | None = None) -> None:
        """``n_iter``: the APGD and FAB-T iterations, ``n_queries``: Square's queries (None: the version's)."""
        self.n_iter = params.optional_positive_int(self.name, "n_iter", n_iter)
        self.n_queries = params.optional_positive_int(self.name, "n_queries", n_queries)

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
            given = {"n_iter": self.n_iter, "n_queries": self.n_queries}
            override = {k: v for k, v in given.items() if v is not None and k in cls.defaults()}
            out.append(cls(**{**hyper, **override}))
        return out

    @classmethod
    def target_classes(cls) -> int:
        """Target classes APGD-T wants (0: no APGD-T); read by the sanity checks (FAB-T takes what there is)."""
        wanted = [
            int(h.get("n_target_classes", ATTACKS.get(f"{p}_{cls.norm.value}").defaults()["n_target_classes"]))
            for p, h in VERSIONS[cls.version]
            if p == "apgd_t"
        ]
        return max(wanted, default=0)

    def describe(self) -> dict[str, Any]:
        suite = "apgd-lite (weaker than AutoAttack)" if self.version == "lite" else f"autoattack-{self.version}"
        return {**super().describe(), "suite": suite, "components": self._names()}

    def _names(self) -> list[str]:
        return component_names(self.version, self.norm)

    def _search(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        targets: torch.Tensor | None,
        epsilons: list[float],
        *,
        seed: int,
        keep_examples: bool,
    ) -> _Outcome:
        """Each component in turn, at each epsilon on all the samples still robust there, in one batch.

        A fixed-budget component runs once per epsilon, ascending (AutoAttack's per-budget runs, minus
        the samples fooled at a smaller budget), or with :attr:`largest_first` from the largest budget
        down, at each budget on the samples whose largest still-robust budget it is; a minimum-norm
        component (FAB-T) runs once on every sample still robust somewhere and serves every budget.
        A win inside one ball stands for every larger one.
        """
        n, k_eps = len(x), len(epsilons)
        fooled = np.zeros((k_eps, n), dtype=bool)
        examples = [x.detach().clone() for _ in epsilons] if keep_examples else []

        def run(attack: Attack, idx: np.ndarray, first: int) -> None:
            """``attack`` at ``epsilons[first]`` (a minimum-norm one: at every budget from there); each budget
            from ``first`` up takes the win of the largest budget the run had that is not above it."""
            it = torch.as_tensor(idx, device=x.device)
            eps = epsilons[first:] if attack.minimal else [epsilons[first]]
            out = attack._search(model, x[it], y[it], None, eps, seed=seed, keep_examples=keep_examples)
            hit = np.logical_or.accumulate(out.fooled, axis=0)
            for k in range(first, k_eps):
                j = min(k - first, len(eps) - 1)
                new = hit[j] & ~fooled[k, idx]
                if keep_examples and new.any():
                    rows = torch.as_tensor(new, device=x.device)
                    examples[k][it[rows]] = out.examples[j][rows].to(x.device, x.dtype)
                fooled[k, idx] |= new

        with torch.no_grad():
            classes = int(true_model(model)(x[:1]).shape[1]) if n else 0
        for attack in self.components():
            if classes < getattr(attack, "min_classes", 2):
                continue  # flagged by attacks.sanity's too_few_classes
            if attack.minimal:  # one minimum-norm run serves every budget
                idx = np.flatnonzero(~fooled[0])
                if len(idx):
                    run(attack, idx, 0)
                continue
            for k in range(k_eps - 1, -1, -1) if self.largest_first else range(k_eps):
                robust = ~fooled[k]
                if self.largest_first and k + 1 < k_eps:
                    robust &= fooled[k + 1]  # the samples whose largest still-robust budget this is
                idx = np.flatnonzero(robust)
                if len(idx):
                    run(attack, idx, k)
        return _Outcome(fooled, examples)  # monotone already: every win is carried to the larger budgets


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
    """APGD-CE, APGD-T (3 targets) at 25 iterations, then FAB-T at 10 on what is left, Linf: the audit's default."""

    name = "apgd_lite_linf"
    norm = Norm.LINF
    version = "lite"
    largest_first = True


@ATTACKS.register("apgd_lite_l2")
class L2APGDLite(_AutoAttack):
    """APGD-CE, APGD-T (3 targets) at 25 iterations, then FAB-T at 10 on what is left, L2: the audit's default."""

    name = "apgd_lite_l2"
    norm = Norm.L2
    version = "lite"
    largest_first = True
