"""What a report shows, read back from the store: results, pictures, metrics and peer runs.

:func:`gather_report` collects a run's records into :class:`reports.model.RunReport` (the
reports package never sees the store or the model); :func:`run_summary` and
:func:`peer_summaries` give the per-run records comparisons need; :func:`load_run` the per-sample
record of the paired comparison (:mod:`reports.comparison`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from robustness.core.enums import WORST_CASE, CellKind
from robustness.core.errors import UsageError
from robustness.results.store import Store

#: artifact names of the report's pictures (written by :mod:`robustness.run.artifacts`, read here)
GRID = "report/grid"
ADVERSARIAL = "report/adversarial"
FRAGILE = "report/fragile"
ATTRIBUTION = "report/attribution"

if TYPE_CHECKING:
    from reports.comparison import RunData
    from reports.model import (
        AdversarialExamples,
        AttributionExamples,
        CorruptionGrid,
        CorruptionMetrics,
        FragileImage,
        RunReport,
        RunSummary,
        SampleRecords,
    )

#: how many other runs on the same samples a run report compares itself with
MAX_PEERS = 7


def gather_report(store: Store, run_id: str, results: pd.DataFrame, record: dict[str, Any]) -> RunReport:
    """Everything the run report shows, read from the store."""
    from reports.model import RunReport

    info = record.get("info") or {}
    names = store.artifact_names(run_id)
    distances = {
        name.split("/", 1)[1]: np.asarray(store.artifact(run_id, name), dtype=float)
        for name in names
        if name.startswith("distances/")
    }
    metrics, metrics_note = corruption_metrics(results, record)
    sanity = store.artifact(run_id, "sanity")
    report = RunReport(
        results=results,
        run=record,
        class_names=[str(c) for c in info.get("class_names", [])],
        sanity=[dict(f) for f in sanity] if isinstance(sanity, list) else None,
        hyperparameters=store.artifact(run_id, "hyperparameters"),
        distances=distances,
        corruption_metrics=metrics,
        corruption_metrics_note=metrics_note,
    )
    report.grid = load_grid(store, run_id)
    report.adversarial = load_adversarial(store, run_id, names)
    report.fragile = load_fragile(store, run_id)
    report.peers = peer_summaries(store, run_id, results)
    report.samples = load_samples(store, run_id)
    report.attributions = load_attributions(store, run_id)
    return report


def load_samples(store: Store, run_id: str) -> SampleRecords:
    """The run's labels, per-cell correctness and per-cell output records (:mod:`robustness.results.outputs`)."""
    from reports.model import SampleRecords
    from robustness.results.outputs import cell_of

    correct = store.bits(run_id)
    outputs = {}
    for name in store.artifact_names(run_id):
        cell = cell_of(name)
        if cell is not None and cell in correct:
            outputs[cell] = store.artifact(run_id, name)
    return SampleRecords(labels=np.asarray(store.run(run_id)["labels"]), correct=correct, outputs=outputs)


def load_attributions(store: Store, run_id: str) -> AttributionExamples | None:
    """The attribution maps :mod:`robustness.run.attribution` stored, or None."""
    from reports.model import AttributionExamples

    meta = store.artifact(run_id, ATTRIBUTION)
    images = store.artifact(run_id, f"{ATTRIBUTION}/images")
    maps = store.artifact(run_id, f"{ATTRIBUTION}/maps")
    if not isinstance(meta, dict) or (meta.get("examples") and (images is None or maps is None)):
        return None
    empty = np.zeros((0, 1, 1, 1), dtype=np.uint8)
    return AttributionExamples(
        images=images if images is not None else empty,
        maps=maps if maps is not None else empty,
        examples=list(meta.get("examples") or []),
        method=str(meta.get("method", "")),
        note=str(meta.get("note", "")),
    )


def corruption_metrics(results: pd.DataFrame, record: dict[str, Any]) -> tuple[CorruptionMetrics | None, str]:
    """mCE and friends from :mod:`reports.corruption_metrics`.

    AlexNet's published ImageNet-C errors normalise CE and mCE only for images at ImageNet-C
    scale (the suite applies ImageNet-C's severity tables there); smaller images get the
    unnormalized mCE alone.
    """
    if not (results["kind"] == CellKind.CORRUPTION.value).any():
        return None, ""
    from reports import corruption_metrics as metrics
    from reports.model import CorruptionMetrics

    shape = ((record.get("info") or {}).get("model") or {}).get("input_shape") or ()
    side = max(shape[1:], default=0)
    if side > metrics.SMALL_IMAGE_MAX_SIDE:
        baseline = metrics.Baseline.alexnet()
    else:
        baseline = metrics.Baseline.none(
            f"{side or 'these'} px images use CIFAR-10-C's severities, and AlexNet's ImageNet-C errors normalise "
            "only ImageNet-scale images; compare models with `robustness compare` (mCE relative to a baseline run)"
        )
    table = results[results["kind"].isin([CellKind.CLEAN.value, CellKind.CORRUPTION.value])]
    try:
        summary = metrics.summary(table, baseline)
        errors = metrics.corruption_errors(table, baseline)
        families = metrics.family_accuracy(table)
    except UsageError as err:
        return None, f"Corruption errors (mCE) not computed: {err}"
    return CorruptionMetrics(summary=summary, errors=errors, families=families, baseline=baseline.name), ""


def load_grid(store: Store, run_id: str) -> CorruptionGrid | None:
    from reports.model import CorruptionGrid

    meta = store.artifact(run_id, GRID)
    images = store.artifact(run_id, f"{GRID}/images")
    clean = store.artifact(run_id, f"{GRID}/clean")
    if not isinstance(meta, dict) or images is None or clean is None:
        return None
    return CorruptionGrid(
        sample_id=int(meta["sample_id"]),
        label=int(meta["label"]),
        clean=clean,
        clean_prediction=int(meta["clean_prediction"]),
        corruptions=list(meta["corruptions"]),
        families=list(meta["families"]),
        severities=[int(s) for s in meta["severities"]],
        images=images,
        predictions=np.asarray(meta["predictions"], dtype=np.int64),
    )


def load_adversarial(store: Store, run_id: str, names: list[str]) -> list[AdversarialExamples]:
    from reports.model import AdversarialExamples

    out = []
    for name in names:
        if not name.startswith(ADVERSARIAL + "/") or name.count("/") != 2:
            continue
        meta = store.artifact(run_id, name)
        if not isinstance(meta, dict):
            continue
        samples = meta.get("samples") or []
        arrays = [store.artifact(run_id, f"{name}/{part}") for part in ("originals", "adversarials", "deltas")]
        if samples and any(a is None for a in arrays):
            continue
        empty = np.zeros((0, 1, 1, 1))
        originals, adversarials, deltas = (a if a is not None else empty for a in arrays)
        out.append(
            AdversarialExamples(
                attack=str(meta["attack"]),
                norm=str(meta["norm"]),
                epsilon=float(meta["epsilon"]) if meta.get("epsilon") is not None else float("nan"),
                sample_ids=np.asarray([s["sample_id"] for s in samples], dtype=np.int64),
                labels=np.asarray([s["label"] for s in samples], dtype=np.int64),
                clean_predictions=np.asarray([s["clean_prediction"] for s in samples], dtype=np.int64),
                adversarial_predictions=np.asarray([s["adversarial_prediction"] for s in samples], dtype=np.int64),
                originals=originals,
                adversarials=adversarials,
                deltas=deltas.astype(np.float32),
                note=str(meta.get("note", "")),
            )
        )
    order = {"linf": 0, "l2": 1}
    return sorted(out, key=lambda e: (order.get(e.norm, 2), e.attack))


def load_fragile(store: Store, run_id: str) -> list[FragileImage]:
    from reports.model import FragileImage

    meta = store.artifact(run_id, FRAGILE)
    images = store.artifact(run_id, f"{FRAGILE}/images")
    perturbed = store.artifact(run_id, f"{FRAGILE}/perturbed")
    if not isinstance(meta, list) or not meta or images is None:
        return []
    out = []
    for k, item in enumerate(meta):
        shown = perturbed is not None and item.get("perturbed_prediction") is not None
        out.append(
            FragileImage(
                sample_id=int(item["sample_id"]),
                label=int(item["label"]),
                cause=str(item["cause"]),
                description=str(item["description"]),
                image=images[k],
                perturbation=str(item.get("attack") or item.get("perturbation", "")),
                severity=item.get("severity"),
                epsilon=item.get("epsilon"),
                norm=item.get("norm"),
                perturbed=perturbed[k] if shown else None,
                perturbed_prediction=item.get("perturbed_prediction") if shown else None,
            )
        )
    return out


def run_summary(
    store: Store, run_id: str, results: pd.DataFrame | None = None, taken: tuple[str, ...] = ()
) -> RunSummary:
    """One run as the comparison needs it: tidy results and the per-sample bits of its clean, corruption and
    worst-case cells."""
    from reports import tidy
    from reports.compare import run_label
    from reports.model import RunSummary

    run = store.run(run_id)
    results = tidy(store.cells(run_id)) if results is None else results
    bits = store.bits(run_id)
    wanted = results[
        results["kind"].isin([CellKind.CLEAN.value, CellKind.CORRUPTION.value]) | results["perturbation"].eq(WORST_CASE)
    ]
    keep = {k: bits[k] for k in wanted["cell"] if k in bits} if "cell" in wanted else {}
    defense = ((run["info"] or {}).get("model") or {}).get("defense") or (run["config"] or {}).get("defense")
    if isinstance(defense, dict):
        defense = defense.get("name")
    label = run_label(run["model"], run_id, defense if isinstance(defense, str) else None, taken)
    return RunSummary(run_id, label, results, np.asarray(run["sample_ids"]), keep)


def peer_summaries(store: Store, run_id: str, results: pd.DataFrame | None = None) -> list[RunSummary]:
    """This run, then up to ``MAX_PEERS`` other runs of the store on the same test samples (newest first).

    A peer must have evaluated every kind of cell this run has (clean, corruption, attack),
    so that the comparison's metrics stay those of this run.
    """
    from reports import tidy

    this = store.run(run_id)
    summaries = [run_summary(store, run_id, results)]
    kinds = set(summaries[0].results["kind"])
    for other in reversed(store.run_ids()):
        if other == run_id or len(summaries) > MAX_PEERS:
            continue
        run = store.run(other)
        if run["dataset"] != this["dataset"] or not np.array_equal(run["sample_ids"], this["sample_ids"]):
            continue
        cells = store.cells(other)
        if cells.empty or not kinds <= set(cells["kind"]):
            continue
        summaries.append(run_summary(store, other, tidy(cells), taken=tuple(s.label for s in summaries)))
    return summaries


def load_run(store: Store, label: str, run_id: str) -> RunData:
    """A stored run as the paired comparison (:mod:`reports.comparison`) reads it: per-sample bits of every cell."""
    from reports.comparison import RunData

    run = store.run(run_id)
    certified = store.artifact(run_id, "certified")
    return RunData(
        label=label,
        run_id=run_id,
        dataset=run["dataset"],
        seed=int(run["seed"]),
        sample_ids=run["sample_ids"],
        labels=run["labels"],
        bits=store.bits(run_id),
        cells=store.cells(run_id)[["cell", "kind", "perturbation", "family", "severity", "epsilon", "norm"]],
        defense=((run["info"] or {}).get("model") or {}).get("defense"),
        certified=certified,
        certified_prediction=store.artifact(run_id, "certified/prediction") if certified else None,
        certified_radius=store.artifact(run_id, "certified/radius") if certified else None,
        outputs=load_samples(store, run_id).outputs,
    )
