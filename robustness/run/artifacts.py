"""Pictures for the report, stored once per run: the corruption grid, adversarial examples, fragile images.

The engine calls :func:`save_report_artifacts` at the end of an audit, after the cells are
in the store. Everything is stored as uint8 (or float16 for perturbations) numpy artifacts
plus a JSON record written last, so a half-finished save is redone and a finished one is
skipped on resume. :func:`robustness.results.records.gather_report` reads them back for ``reports``,
which never sees the model.

Artifact names (all under ``report/``):

| name | value |
|---|---|
| ``report/grid`` (json), ``report/grid/images``, ``report/grid/clean`` | one test image under every corruption and severity |
| ``report/adversarial/<attack>`` (json), ``.../originals``, ``.../adversarials``, ``.../deltas`` | a few adversarial examples at a middle budget |
| ``report/fragile`` (json), ``report/fragile/images``, ``report/fragile/perturbed`` | the most fragile test images |
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from robustness.core.enums import WORST_CASE
from robustness.results.records import ADVERSARIAL, FRAGILE, GRID
from robustness.results.store import Store
from robustness.run.plan import CLEAN, attack_cell, corruption_cell

if TYPE_CHECKING:
    import torch

    from robustness.run.prepare import Prepared

log = logging.getLogger(__name__)

#: adversarial examples shown per attack, and fragile images per cause
EXAMPLES_PER_ATTACK = 3
FRAGILE_PER_CAUSE = 6
#: attacks cheap enough to re-run for a fragile image's adversarial example, in order of preference
CHEAP_ATTACKS = ("fgsm", "pgd_linf", "pgd_l2", "deepfool_linf", "deepfool_l2")


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """``N x C x H x W`` float in [0, 1] -> ``N x H x W x C`` uint8."""
    array = images.detach().cpu().float().clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return (array * 255.0 + 0.5).astype(np.uint8)


def save_report_artifacts(prep: Prepared, store: Store) -> None:
    """Store the report's pictures for ``prep.run_id``; parts already stored are skipped (resume).

    Cheap by design: one image through every corruption cell, a handful of samples per attack,
    and a few fragile images, chosen from the stored per-sample bits.
    """
    start = time.perf_counter()
    names = set(store.artifact_names(prep.run_id))
    bits = store.bits(prep.run_id)
    if CLEAN.key not in bits:
        return
    if "hyperparameters" not in names and prep.plan.attack_tasks:
        store.put_artifact(prep.run_id, "hyperparameters", attack_hyperparameters(prep))
    if GRID not in names and prep.plan.corruption_cells:
        save_corruption_grid(prep, store, bits)
    for task in prep.plan.attack_tasks:
        if f"{ADVERSARIAL}/{task.name}" not in names:
            save_adversarial_examples(prep, store, bits, task)
    if FRAGILE not in names:
        save_fragile_images(prep, store, bits)
    log.info("report pictures for %s: %.1f s", prep.run_id, time.perf_counter() - start)


def attack_hyperparameters(prep: Prepared) -> dict[str, dict[str, Any]]:
    import attacks

    out: dict[str, dict[str, Any]] = {}
    for task in prep.plan.attack_tasks:
        params = attacks.create(task.name, **task.params).hyperparameters()
        out[task.name] = {
            k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)) for k, v in params.items()
        }
    return out


def _corruption_names(prep: Prepared) -> tuple[list[str], list[str], list[int]]:
    names: list[str] = []
    families: list[str] = []
    severities: set[int] = set()
    for cell in prep.plan.corruption_cells:
        if cell.perturbation not in names:
            names.append(cell.perturbation)
            families.append(cell.family)
        if cell.severity is not None:
            severities.add(int(cell.severity))
    return names, families, sorted(severities)


def attack_model(prep: Prepared) -> torch.nn.Module:
    """The model the audit's attacks took gradients through (a defense's adaptive surrogate, or the classifier)."""
    from robustness import defenses

    return defenses.attack_model(prep.config, prep.classifier)


def _predict(prep: Prepared, images: torch.Tensor) -> np.ndarray:
    import torch

    with torch.no_grad():
        return prep.classifier.predict(images).cpu().numpy().astype(np.int64)


def corrupted(prep: Prepared, name: str, severity: int, images: torch.Tensor, positions: np.ndarray) -> torch.Tensor:
    """``images`` (the samples at ``positions``) under ``name`` at ``severity``, as the engine evaluated them."""
    import torch

    from robustness import corruptions

    sample_ids = np.asarray(prep.dataset.indices[positions])
    precomputed = getattr(prep, "precomputed", None)
    if precomputed is not None:
        parts = [
            x for x, _ in precomputed.batches(name, severity, np.asarray(positions), sample_ids, max(1, len(positions)))
        ]
        return torch.cat(parts).to(images.dtype)
    return corruptions.corrupt_batch(name, images, severity, sample_ids, seed=prep.config.seed)


def save_corruption_grid(prep: Prepared, store: Store, bits: dict[str, np.ndarray]) -> None:
    """The first clean-correct test image under every corruption of the plan at every severity."""
    import torch

    correct = np.flatnonzero(bits[CLEAN.key])
    order = int(correct[0]) if len(correct) else 0
    position = np.asarray([prep.positions[order]])
    images, labels = prep.dataset.load(position)
    sample_id = int(prep.dataset.indices[position[0]])
    names, families, severities = _corruption_names(prep)
    cells = {(c.perturbation, c.severity) for c in prep.plan.corruption_cells}
    stack = torch.cat(
        [
            corrupted(prep, name, severity, images, position) if (name, severity) in cells else torch.zeros_like(images)
            for name in names
            for severity in severities
        ]
    )
    predictions = _predict(prep, stack).reshape(len(names), len(severities))
    for i, name in enumerate(names):
        for j, severity in enumerate(severities):
            if (name, severity) not in cells:
                predictions[i, j] = -1  # not in the plan (a precomputed set without this severity)
    clean_prediction = int(_predict(prep, images)[0])
    grid = to_uint8(stack).reshape(len(names), len(severities), *to_uint8(images).shape[1:])
    store.put_artifact(prep.run_id, f"{GRID}/images", grid)
    store.put_artifact(prep.run_id, f"{GRID}/clean", to_uint8(images)[0])
    store.put_artifact(
        prep.run_id,
        GRID,
        {
            "sample": order,
            "sample_id": sample_id,
            "label": int(labels[0]),
            "clean_prediction": clean_prediction,
            "corruptions": names,
            "families": families,
            "severities": severities,
            "predictions": predictions.tolist(),
        },
    )


def _pick_epsilon(task_epsilons: Sequence[float], fooled_by_eps: dict[float, np.ndarray]) -> float | None:
    """The middle budget, or the nearest one (larger first) at which the attack fooled someone."""
    eps = sorted(task_epsilons)
    mid = (len(eps) - 1) // 2
    for e in [*eps[mid:], *reversed(eps[:mid])]:
        if fooled_by_eps.get(e) is not None and fooled_by_eps[e].any():
            return e
    return None


def save_adversarial_examples(prep: Prepared, store: Store, bits: dict[str, np.ndarray], task: Any) -> None:
    """Re-run ``task``'s attack on a few samples it fooled at a middle budget and keep the examples."""
    import attacks

    clean = bits[CLEAN.key]
    fooled = {float(e): clean & ~bits[cell.key] for e, cell in zip(task.epsilons, task.cells) if cell.key in bits}
    meta: dict[str, Any] = {"attack": task.name, "norm": task.norm, "epsilon": None, "samples": [], "note": ""}
    epsilon = _pick_epsilon(task.epsilons, fooled)
    if epsilon is None:
        meta["note"] = "The attack fooled no sample at any budget, so there is no example to show."
        store.put_artifact(prep.run_id, f"{ADVERSARIAL}/{task.name}", meta)
        return
    order = np.flatnonzero(fooled[epsilon])[:EXAMPLES_PER_ATTACK]
    positions = np.asarray(prep.positions)[order]
    x, y = prep.dataset.load(positions)
    attack = attacks.create(task.name, **task.params)  # per-sample keyed draws: the cell's own examples
    result = attack.sweep(attack_model(prep), x, y, [epsilon], seed=prep.config.seed, keep_examples=True)
    adv = result.examples.get(epsilon, x)
    adv_pred = _predict(prep, adv)
    clean_pred = _predict(prep, x)
    labels = y.cpu().numpy().astype(np.int64)
    keep = np.flatnonzero(adv_pred != labels)
    if len(keep) < min(EXAMPLES_PER_ATTACK, len(order)):
        missing = min(EXAMPLES_PER_ATTACK, len(order)) - len(keep)
        keep = np.concatenate([keep, np.flatnonzero(adv_pred == labels)[:missing]])
        meta["note"] = (
            f"Re-run on these samples alone the attack fooled {int((adv_pred != labels).sum())} of {len(order)}; "
            "examples it did not fool are shown with the prediction unchanged."
        )
    keep = np.sort(keep[:EXAMPLES_PER_ATTACK])
    originals, adversarials = to_uint8(x[keep]), to_uint8(adv[keep])
    deltas = (adv[keep].cpu().float() - x[keep].cpu().float()).permute(0, 2, 3, 1).numpy().astype(np.float16)
    base = f"{ADVERSARIAL}/{task.name}"
    store.put_artifact(prep.run_id, f"{base}/originals", originals)
    store.put_artifact(prep.run_id, f"{base}/adversarials", adversarials)
    store.put_artifact(prep.run_id, f"{base}/deltas", deltas)
    meta["epsilon"] = float(epsilon)
    meta["samples"] = [
        {
            "sample": int(order[k]),
            "sample_id": int(prep.dataset.indices[positions[k]]),
            "label": int(labels[k]),
            "clean_prediction": int(clean_pred[k]),
            "adversarial_prediction": int(adv_pred[k]),
        }
        for k in keep
    ]
    store.put_artifact(prep.run_id, base, meta)


def fragile_under_corruptions(prep: Prepared, bits: dict[str, np.ndarray], limit: int) -> list[dict[str, Any]]:
    """Clean-correct samples flipped by the most corruptions at the lowest severity of the plan."""
    names, _, severities = _corruption_names(prep)
    if not names:
        return []
    lowest = severities[0]
    keys = {name: key for name in names if (key := corruption_cell(name, lowest).key) in bits}
    if not keys:
        return []
    clean = bits[CLEAN.key]
    flips = np.stack([clean & ~bits[k] for k in keys.values()])  # [corruptions, N]
    counts = flips.sum(axis=0)
    accuracy = {name: float(bits[k].mean()) for name, k in keys.items()}
    order = np.lexsort((np.arange(len(counts)), -counts))
    out = []
    for i in order[:limit]:
        if counts[i] == 0:
            break
        flipped = [name for name, row in zip(keys, flips) if row[i]]
        # show the mildest corruption that still flips it: the one most samples survive
        shown = max(flipped, key=lambda n: accuracy[n])
        listed = ", ".join(flipped[:6]) + (", ..." if len(flipped) > 6 else "")
        out.append(
            {
                "sample": int(i),
                "cause": "corruption",
                "perturbation": shown,
                "severity": lowest,
                "description": f"flipped by {len(flipped)} of {len(keys)} corruptions at severity {lowest} ({listed})",
            }
        )
    return out


def fragile_under_attacks(
    prep: Prepared, store: Store, bits: dict[str, np.ndarray], limit: int
) -> list[dict[str, Any]]:
    """Clean-correct samples the suite fools at the smallest budget (ties: smallest minimal distance)."""
    clean = bits[CLEAN.key]
    norms = sorted({t.norm for t in prep.plan.attack_tasks}, key=lambda n: (n != "linf", n))
    per_norm = -(-limit // max(1, len(norms)))
    out: list[dict[str, Any]] = []
    for norm in norms:
        epsilons = sorted({e for t in prep.plan.attack_tasks if t.norm == norm for e in t.epsilons})
        first = np.full(len(clean), np.inf)
        for e in reversed(epsilons):
            key = attack_cell(WORST_CASE, norm, e).key
            if key in bits:
                first[clean & ~bits[key]] = e
        distance = np.full(len(clean), np.inf)
        for task in prep.plan.attack_tasks:
            if task.norm == norm:
                d = store.artifact(prep.run_id, f"distances/{task.name}")
                if isinstance(d, np.ndarray) and d.shape == distance.shape:
                    distance = np.fmin(distance, np.nan_to_num(d, nan=np.inf))
        candidates = np.flatnonzero(np.isfinite(first))
        ranked = candidates[np.lexsort((candidates, distance[candidates], first[candidates]))]
        for i in ranked[:per_norm]:
            e = float(first[i])
            by = [
                t.name
                for t in prep.plan.attack_tasks
                if t.norm == norm
                and e in t.epsilons
                and attack_cell(t.name, norm, e).key in bits
                and not bits[attack_cell(t.name, norm, e).key][i]
            ]
            text = f"fooled at {norm} ε {e:.4g}" + (f" by {', '.join(by)}" if by else "")
            if np.isfinite(distance[i]):
                text += f"; minimal {norm} distance {distance[i]:.3g}"
            out.append(
                {
                    "sample": int(i),
                    "cause": "attack",
                    "perturbation": ", ".join(by),
                    "attack": next((a for a in CHEAP_ATTACKS if a in by), None),
                    "norm": norm,
                    "epsilon": e,
                    "description": text,
                }
            )
    return out


def save_fragile_images(prep: Prepared, store: Store, bits: dict[str, np.ndarray]) -> None:
    """The most fragile test images, their labels, and what flipped them."""
    chosen = fragile_under_corruptions(prep, bits, FRAGILE_PER_CAUSE) + fragile_under_attacks(
        prep, store, bits, FRAGILE_PER_CAUSE
    )
    if not chosen:
        store.put_artifact(prep.run_id, FRAGILE, [])
        return
    positions = np.asarray(prep.positions)[[c["sample"] for c in chosen]]
    images, labels = prep.dataset.load(positions)
    perturbed = images.clone()
    for k, item in enumerate(chosen):
        item["sample_id"] = int(prep.dataset.indices[positions[k]])
        item["label"] = int(labels[k])
        if item["cause"] == "corruption":
            perturbed[k : k + 1] = corrupted(
                prep, item["perturbation"], item["severity"], images[k : k + 1], positions[k : k + 1]
            )
    attacked = adversarial_versions(prep, chosen, images, labels)
    for k, example in attacked.items():
        perturbed[k] = example
    predictions = _predict(prep, perturbed)
    for k, item in enumerate(chosen):
        shown = item["cause"] == "corruption" or k in attacked
        item["perturbed_prediction"] = int(predictions[k]) if shown else None
    store.put_artifact(prep.run_id, f"{FRAGILE}/images", to_uint8(images))
    store.put_artifact(prep.run_id, f"{FRAGILE}/perturbed", to_uint8(perturbed))
    store.put_artifact(prep.run_id, FRAGILE, chosen)


def adversarial_versions(
    prep: Prepared, chosen: list[dict[str, Any]], images: torch.Tensor, labels: torch.Tensor
) -> dict[int, torch.Tensor]:
    """Adversarial examples of the attack-fragile images: a cheap attack of the suite at their budget."""
    import attacks

    groups: dict[tuple[str, float], list[int]] = {}
    for k, item in enumerate(chosen):
        if item["cause"] == "attack" and item.get("attack"):
            groups.setdefault((item["attack"], float(item["epsilon"])), []).append(k)
    tasks = {t.name: t for t in prep.plan.attack_tasks}
    out: dict[int, torch.Tensor] = {}
    for (name, epsilon), rows in groups.items():
        task = tasks.get(name)
        if task is None:
            continue
        x, y = images[rows], labels[rows]
        result = attacks.create(name, **task.params).sweep(
            attack_model(prep), x, y, [epsilon], seed=prep.config.seed, keep_examples=True
        )
        if epsilon in result.examples:
            for j, k in enumerate(rows):
                out[k] = result.examples[epsilon][j].to(images.dtype)
    return out


__all__ = ["ADVERSARIAL", "FRAGILE", "GRID", "save_report_artifacts"]
