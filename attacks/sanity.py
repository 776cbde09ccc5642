"""Sanity checks that flag an adversarial evaluation which may be fooling itself.

:func:`run_checks` returns one :class:`SanityFlag` per check, each with what a failure
means and what to do, as plain strings and numbers (the report layer never imports torch).
A failed check does not change any number; it says the numbers may be too optimistic.

| check | fails when |
|---|---|
| ``randomized_outputs`` | two identical forward passes differ (and no EOT wrapper averages them) |
| ``softmax_outputs`` | outputs are probabilities (non-negative, rows sum to 1), not logits |
| ``zero_gradients`` | the input gradient the attacks see is zero/non-finite on > ``zero_gradient_share`` |
| ``gradient_free_stronger`` | a gradient-free attack fools > ``free_share`` of samples every gradient attack missed |
| ``large_budget`` | PGD at Linf ``large_epsilon`` leaves robust accuracy above chance |
| ``single_step_beats_iterative`` | FGSM's robust accuracy is below PGD's by > ``gap`` |
| ``not_converged`` | PGD with twice the steps lowers robust accuracy by > ``gap`` |
| ``monotone`` | a result's robust accuracy rises with epsilon or exceeds clean accuracy (a bug) |
| ``too_few_classes`` | a targeted attack (APGD-T, FAB-T, AutoAttack) asked for more target classes than the model has runners-up |
| ``dynamic_forward`` | two identical forward passes run different modules (data-dependent control flow) |
| ``square_stronger`` | Square fooled samples that every gradient attack of its norm missed |
| ``flat_loss`` | cross-entropy gradients vanish on > ``zero_gradient_share`` of inputs where the DLR gradient does not |

The last four are those of AutoAttack's ``checks.py`` the suite lacked, plus the flat-loss check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from attacks.adaptive import eot_samples
from attacks.apgd import dlr_loss
from attacks.base import ATTACKS, Attack, SweepResult, model_device, true_model
from attacks.bookkeeping import fooled_at
from attacks.geometry import Norm
from attacks.gradient import L2PGD, LinfPGD, margin

_TEXT: dict[str, tuple[str, str]] = {
    "randomized_outputs": (
        "The model's outputs change across identical forward passes: it is randomized, so one gradient "
        "sample is noise and a single-draw attack underestimates it.",
        "Attack through attacks.adaptive.EOT(model, samples=k) to average gradients over k draws.",
    ),
    "softmax_outputs": (
        "The model returns probabilities, not logits: softmax saturates, cross-entropy gradients vanish and "
        "attacks look weaker than they are.",
        "Return logits (drop the final softmax) or attack with a margin loss (loss='margin', cw_l2).",
    ),
    "zero_gradients": (
        "The input gradient is zero or non-finite on a noticeable share of inputs: gradient masking "
        "(quantization, thresholds, non-differentiable preprocessing); gradient attacks cannot make progress.",
        "Wrap the non-differentiable step with attacks.adaptive.BPDA, or rely on gradient-free attacks "
        "(noise_*, hsj_*).",
    ),
    "gradient_free_stronger": (
        "A gradient-free attack found adversarials that every gradient attack missed: the gradients are "
        "misleading, so the gradient attacks' robust accuracy is an overestimate.",
        "Use BPDA/EOT surrogates, more steps or restarts; trust the worst case over the whole suite.",
    ),
    "large_budget": (
        "At a budget large enough to erase the image, PGD leaves robust accuracy above chance: the attack "
        "is failing, not the model succeeding.",
        "Check for gradient masking (BPDA, gradient-free attacks) and the pixel bounds of the model.",
    ),
    "single_step_beats_iterative": (
        "Single-step FGSM fools more samples than iterative PGD: the iterative attack is mis-tuned or the "
        "loss surface is masked near the data.",
        "Raise PGD's steps or restarts, check the step size, and look for gradient masking.",
    ),
    "not_converged": (
        "Doubling PGD's steps lowers robust accuracy noticeably: the attack has not converged, so the "
        "reported robust accuracy is too high.",
        "Raise steps (and restarts) until doubling them changes robust accuracy by under a point.",
    ),
    "too_few_classes": (
        "A targeted attack asked for more target classes than the model has runner-up classes (or its loss "
        "needs more classes than the model has): it ran with fewer targets or not at all, so the evaluation is "
        "weaker than AutoAttack's.",
        "Lower n_target_classes to num_classes - 1; for models with under 4 classes use APGD-CE and APGD-DLR.",
    ),
    "dynamic_forward": (
        "The model runs different modules on identical inputs: data-dependent control flow or stateful layers, "
        "so gradients may not describe the function being evaluated.",
        "Make the forward pass deterministic for evaluation, or attack through BPDA/EOT and trust Square.",
    ),
    "square_stronger": (
        "The gradient-free Square attack fooled samples that every gradient attack missed: the gradients are "
        "masked or misleading, so the gradient attacks' robust accuracy is an overestimate.",
        "Report the worst case including Square (--attacks autoattack) and look for gradient masking.",
    ),
    "flat_loss": (
        "Cross-entropy gradients vanish on many inputs while the DLR loss still has a gradient: softmax is "
        "saturated (large logits), so cross-entropy attacks stall.",
        "Use scale-invariant losses: apgd_dlr_*, apgd_t_* or --attacks autoattack.",
    ),
    "monotone": (
        "Robust accuracy rose with epsilon or exceeded clean accuracy: the bookkeeping is broken.",
        "Report a bug; the suite's sweep guarantees both properties.",
    ),
}


@dataclass(frozen=True)
class SanityFlag:
    """One check's outcome, in plain values."""

    check: str
    passed: bool
    value: float | None
    threshold: float | None
    meaning: str
    advice: str
    detail: str = ""
    skipped: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _flag(
    check: str, passed: bool, value: float | None, threshold: float | None, detail: str, *, skipped: bool = False
) -> SanityFlag:
    meaning, advice = _TEXT[check]
    value = None if value is None else float(value)
    return SanityFlag(check, bool(passed), value, threshold, meaning, advice, detail, skipped)


def run_checks(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    results: Sequence[SweepResult] = (),
    *,
    max_samples: int = 256,
    seed: int = 0,
    large_epsilon: float = 0.5,
    convergence_epsilon: float = 8 / 255,
    zero_gradient_share: float = 0.05,
    free_share: float = 0.02,
    gap: float = 0.01,
) -> list[SanityFlag]:
    """Run every check and return the flags in a fixed order.

    Args:
        model: the model the attacks ran on: a ``Classifier`` or an :mod:`attacks.adaptive`
            surrogate (model-level checks look at ``true_model``, gradient checks at the surrogate).
        x, y: sample images (pixel space) and labels for the model-level and attack-running
            checks; the first ``max_samples`` are used.
        results: the suite's verified sweeps over the *whole* evaluation set (each attack's
            batches joined with :func:`attacks.concat`); used by the result-level checks
            (``gradient_free_stronger``, ``single_step_beats_iterative``, ``monotone``) and to
            pick the epsilon and steps of ``not_converged``. They need not cover ``x``.
        large_epsilon: the Linf budget of ``large_budget``.
        convergence_epsilon: the Linf budget of ``not_converged`` when ``results`` hold no PGD.
        zero_gradient_share, free_share, gap: thresholds (shares of samples, accuracy points / 100).
    """
    device = model_device(true_model(model))
    xs = torch.as_tensor(x[:max_samples]).to(device)
    ys = torch.as_tensor(y[:max_samples]).to(device).long()
    return [
        _randomized(model, xs),
        _softmax(model, xs),
        _zero_gradients(model, xs, ys, zero_gradient_share),
        _gradient_free(results, free_share),
        _large_budget(model, xs, ys, large_epsilon, seed),
        _single_step(results, gap),
        *_convergence(model, xs, ys, results, convergence_epsilon, gap, seed),
        _monotone(results),
        _too_few_classes(model, xs, results),
        _dynamic(model, xs),
        _square(results),
        _flat_loss(model, xs, ys, zero_gradient_share),
    ]


def _randomized(model: nn.Module, xs: torch.Tensor) -> SanityFlag:
    judge = true_model(model)
    with torch.no_grad():
        a, b = judge(xs), judge(xs)
    change = float((a - b).abs().max() / a.abs().max().clamp_min(1e-12)) if len(xs) else 0.0
    k = eot_samples(model)
    randomized = change > 1e-4
    detail = f"max relative change across two identical passes: {change:.3g}"
    if randomized and k > 1:
        detail += f"; attacks average {k} draws (EOT)"
    return _flag("randomized_outputs", not randomized or k > 1, change, 1e-4, detail)


def _softmax(model: nn.Module, xs: torch.Tensor) -> SanityFlag:
    with torch.no_grad():
        out = true_model(model)(xs)
    row_error = float((out.sum(1) - 1).abs().max()) if len(xs) else float("inf")
    probs = bool(len(xs)) and float(out.min()) >= -1e-6 and float(out.max()) <= 1 + 1e-6 and row_error < 1e-3
    return _flag("softmax_outputs", not probs, row_error, 1e-3, f"max |row sum - 1| = {row_error:.3g}")


def _zero_share(model: nn.Module, xs: torch.Tensor, ys: torch.Tensor) -> float:
    xg = xs.detach().clone().requires_grad_(True)
    total = margin(model(xg), ys, None).sum()
    if not total.requires_grad:
        return 1.0
    (grad,) = torch.autograd.grad(total, xg, allow_unused=True)
    if grad is None:
        return 1.0
    flat = grad.flatten(1)
    dead = (flat.abs().amax(1) == 0) | ~torch.isfinite(flat).all(1)
    return float(dead.float().mean())


def _zero_gradients(model: nn.Module, xs: torch.Tensor, ys: torch.Tensor, threshold: float) -> SanityFlag:
    share = _zero_share(model, xs, ys) if len(xs) else 0.0
    detail = f"{share:.1%} of {len(xs)} inputs have a zero or non-finite margin gradient"
    judge = true_model(model)
    if judge is not model:
        detail += f" through the surrogate ({_zero_share(judge, xs, ys):.1%} on the true model)"
    return _flag("zero_gradients", share <= threshold, share, threshold, detail)


def _kind(result: SweepResult) -> type[Attack] | None:
    return ATTACKS.get(result.attack) if result.attack in ATTACKS else None


def _gradient_free(
    results: Sequence[SweepResult], threshold: float, *, check: str = "gradient_free_stronger", prefix: str = ""
) -> SanityFlag:
    """Largest share of attacked samples a gradient-free attack (named ``prefix...``) fooled that all gradient ones missed."""
    worst, detail = 0.0, None
    for norm in Norm:
        group = [r for r in results if r.norm is norm and _kind(r) is not None]
        grads = [r for r in group if not _kind(r).gradient_free]
        frees = [r for r in group if _kind(r).gradient_free and r.attack.startswith(prefix)] if grads else []
        for free in frees:
            base = free.clean_correct & (free.attacked if free.attacked is not None else True)
            for e in free.epsilons:
                missed = fooled_at(free, e) & ~np.logical_or.reduce([fooled_at(g, e) for g in grads])
                share = missed.sum() / max(1, base.sum())
                if detail is None or share > worst:
                    worst = float(share)
                    detail = (
                        f"{free.attack} fooled {int(missed.sum())} of {int(base.sum())} attacked samples at "
                        f"{norm.value} eps={e:g} that {', '.join(g.attack for g in grads)} all missed"
                    )
    if detail is None:
        detail = f"no {prefix or 'gradient-free'} and gradient results to compare"
        return _flag(check, True, None, threshold, detail, skipped=True)
    return _flag(check, worst <= threshold, worst, threshold, detail)


def _large_budget(model: nn.Module, xs: torch.Tensor, ys: torch.Tensor, epsilon: float, seed: int) -> SanityFlag:
    with torch.no_grad():
        classes = int(true_model(model)(xs[:1]).shape[1]) if len(xs) else 2
    chance = 1.0 / classes
    result = LinfPGD(steps=20, rel_stepsize=0.1, loss="margin").sweep(model, xs, ys, [epsilon], seed=seed)
    acc = float(result.accuracy[0])
    detail = (
        f"PGD-20 (margin loss) at Linf {epsilon:g}: robust accuracy {acc:.1%} vs chance {chance:.1%} "
        f"on {len(xs)} samples"
    )
    return _flag("large_budget", acc <= chance, acc, chance, detail)


def _single_step(results: Sequence[SweepResult], gap: float) -> SanityFlag:
    worst, detail = None, ""
    for single in (r for r in results if _kind(r) is not None and _kind(r).single_step):
        for it in results:
            kind = _kind(it)
            if kind is None or it.norm is not single.norm or kind.single_step or kind.minimal or kind.gradient_free:
                continue
            for k, e in enumerate(single.epsilons):
                if e in it.epsilons:
                    diff = float(it.accuracy[it.epsilons.index(e)] - single.accuracy[k])
                    if worst is None or diff > worst:
                        worst = diff
                        detail = (
                            f"{single.attack} {single.accuracy[k]:.1%} vs {it.attack} "
                            f"{it.accuracy[it.epsilons.index(e)]:.1%} robust accuracy at eps={e:g}"
                        )
    if worst is None:
        detail = "no single-step and iterative results share an epsilon"
        return _flag("single_step_beats_iterative", True, None, gap, detail, skipped=True)
    return _flag("single_step_beats_iterative", worst <= gap, worst, gap, detail)


def _convergence(
    model: nn.Module,
    xs: torch.Tensor,
    ys: torch.Tensor,
    results: Sequence[SweepResult],
    default_eps: float,
    gap: float,
    seed: int,
) -> list[SanityFlag]:
    plans = []
    for cls in (LinfPGD, L2PGD):
        found = [r for r in results if r.attack == cls.name]
        if found:
            r = found[0]
            target = r.clean_accuracy / 2
            k = int(np.argmin(np.abs(r.accuracy - target)))
            hyper = {k_: v for k_, v in r.hyperparameters.items() if k_ in cls.defaults()}
            plans.append((cls, r.epsilons[k], hyper))
    if not plans:
        plans.append((LinfPGD, default_eps, {}))
    flags = []
    for cls, eps, hyper in plans:
        steps = int(hyper.pop("steps", cls.defaults()["steps"]))
        hyper.pop("target", None)
        once = cls(steps=steps, **hyper).sweep(model, xs, ys, [eps], seed=seed).accuracy[0]
        twice = cls(steps=2 * steps, **hyper).sweep(model, xs, ys, [eps], seed=seed).accuracy[0]
        drop = float(once - twice)
        detail = (
            f"{cls.name} at eps={eps:g}: {once:.1%} with {steps} steps, {twice:.1%} with {2 * steps} "
            f"on {len(xs)} samples"
        )
        flags.append(_flag("not_converged", drop <= gap, drop, gap, detail))
    return flags


def _monotone(results: Sequence[SweepResult]) -> SanityFlag:
    if not results:
        return _flag("monotone", True, None, 0.0, "no results to check", skipped=True)
    worst, where = 0.0, "all results non-increasing in epsilon and at most clean accuracy"
    for r in results:
        order = np.argsort(r.epsilons, kind="stable")
        acc = r.accuracy[order]
        rise = float(np.max(np.diff(acc), initial=0.0))
        above = float(np.max(acc - r.clean_accuracy, initial=0.0))
        if max(rise, above) > worst:
            worst, where = max(rise, above), f"{r.attack}: rises by {rise:.3g}, exceeds clean by {above:.3g}"
    return _flag("monotone", worst == 0.0, worst, 0.0, where)


def _too_few_classes(model: nn.Module, xs: torch.Tensor, results: Sequence[SweepResult]) -> SanityFlag:
    with torch.no_grad():
        classes = int(true_model(model)(xs[:1]).shape[1]) if len(xs) else 0
    short = []
    for r in results:
        kind = _kind(r)
        wanted = int(r.hyperparameters.get("n_target_classes", 0))
        if kind is not None and getattr(kind, "composite", False):
            wanted = kind.target_classes()
        needed = max(getattr(kind, "min_classes", 2), wanted + 1 if wanted else 0)
        if wanted or needed > 2:
            short.append((r.attack, wanted, needed))
    if not short:
        return _flag("too_few_classes", True, None, None, "no targeted or DLR attack ran", skipped=True)
    bad = [f"{a} wants {w} targets / {n} classes" for a, w, n in short if classes < n]
    detail = f"the model has {classes} classes" + (f"; {', '.join(bad)}" if bad else "; every targeted attack fits")
    return _flag("too_few_classes", not bad, float(classes), float(max(n for _, _, n in short)), detail)


def _module_trace(model: nn.Module, xs: torch.Tensor) -> list[int]:
    trace: list[int] = []
    modules = list(true_model(model).modules())
    handles = [m.register_forward_hook(lambda m, i, o, k=k: trace.append(k)) for k, m in enumerate(modules)]
    try:
        with torch.no_grad():
            true_model(model)(xs)
    finally:
        for h in handles:
            h.remove()
    return trace


def _dynamic(model: nn.Module, xs: torch.Tensor) -> SanityFlag:
    first, second = _module_trace(model, xs[:8]), _module_trace(model, xs[:8])
    changed = first != second
    detail = f"{len(first)} module calls in the first pass, {len(second)} in the second" + (
        ", in a different order" if changed and len(first) == len(second) else ""
    )
    return _flag("dynamic_forward", not changed, float(changed), 0.0, detail)


def _square(results: Sequence[SweepResult]) -> SanityFlag:
    return _gradient_free(results, 0.0, check="square_stronger", prefix="square")


def _grad_norms(model: nn.Module, xs: torch.Tensor, ys: torch.Tensor, loss: str) -> torch.Tensor:
    xg = xs.detach().clone().requires_grad_(True)
    logits = model(xg)
    value = F.cross_entropy(logits, ys, reduction="sum") if loss == "ce" else dlr_loss(logits, ys).sum()
    (grad,) = torch.autograd.grad(value, xg, allow_unused=True) if value.requires_grad else (None,)
    return torch.zeros(len(xs)) if grad is None else torch.nan_to_num(grad).flatten(1).abs().amax(1).cpu()


def _flat_loss(model: nn.Module, xs: torch.Tensor, ys: torch.Tensor, threshold: float) -> SanityFlag:
    with torch.no_grad():
        classes = int(true_model(model)(xs[:1]).shape[1]) if len(xs) else 0
    if classes < 3:
        return _flag("flat_loss", True, None, threshold, f"DLR needs >= 3 classes, the model has {classes}", skipped=True)
    ce, dlr = _grad_norms(model, xs, ys, "ce"), _grad_norms(model, xs, ys, "dlr")
    flat = (ce < 1e-20) & (dlr > 1e-6)  # exp(-46): softmax saturated in float32
    share = float(flat.float().mean()) if len(xs) else 0.0
    detail = f"{share:.1%} of {len(xs)} inputs: cross-entropy gradient below 1e-20 while the DLR gradient is not"
    return _flag("flat_loss", share <= threshold, share, threshold, detail)
