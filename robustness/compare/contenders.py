"""Contenders of a comparison and the audits that evaluate them on one grid.

A contender is a defense name with optional hyperparameters (``pgd-at:epsilon=0.1,steps=5``,
trained on or wrapping ``--model``), a user model (``model:SPEC`` or ``model:SPEC@WEIGHTS``)
or a stored run (``run:RUN_ID``). Every fresh contender becomes an :class:`AuditConfig` with
the same dataset, samples, seed and grid; a transform defense gets a second, naive audit
(attacks only) for contrast.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from robustness.core.errors import UsageError
from robustness.run.config import DEFAULT_OUT, AuditConfig

DEFAULT_ATTACKS = ("apgd_lite_linf", "apgd_lite_l2")
DEFAULT_EPS = (0.05, 0.1, 0.2)
DEFAULT_EPS_L2 = (0.25, 0.5, 1.0)


def parse_params(text: str, *, what: str = "--defense-params") -> dict[str, Any]:
    """``epsilon=0.1,steps=5,radii=[0.25,0.5]`` -> dict; values are read as YAML scalars/lists."""
    out: dict[str, Any] = {}
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch in "[("
        depth -= ch in "])"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    for part in (p.strip() for p in parts):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"{what} should be KEY=VALUE pairs separated by commas, but got {part!r}; e.g. epsilon=0.1,steps=5."
            )
        try:
            out[key.strip().replace("-", "_")] = yaml.safe_load(value.replace("(", "[").replace(")", "]"))
        except yaml.YAMLError:
            raise UsageError(f"{what}: value {value!r} of {key.strip()!r} is not a number, word or [list].") from None
    return out


@dataclass(frozen=True)
class Contender:
    """One model of a comparison: a defense on ``--model``, a user model, or a stored run."""

    label: str
    source: str  # "defense" | "model" | "run"
    defense: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    spec: str | None = None
    weights: str | None = None
    run_id: str | None = None


def parse_contender(text: str) -> Contender:
    """``DEFENSE[:k=v,...]``, ``model:SPEC[@WEIGHTS]`` or ``run:RUN_ID``."""
    from robustness.defenses import DEFENSES, create

    text = text.strip()
    if text.startswith("run:"):
        run_id = text[4:].strip()
        if not run_id:
            raise UsageError("contender 'run:' should name a stored run, e.g. run:digits-small-cnn-0123456789.")
        return Contender(text, "run", run_id=run_id)
    if text.startswith("model:"):
        spec, _, weights = text[6:].partition("@")
        if not spec:
            raise UsageError("contender 'model:' should name a model SPEC, e.g. model:my_pkg.nets:Net@net.pt.")
        return Contender(text, "model", spec=spec, weights=weights or None)
    name, _, raw = text.partition(":")
    if name not in DEFENSES:
        from robustness.core.errors import unknown_name

        err = unknown_name("defense", name, DEFENSES)
        raise UsageError(
            f"contender {text!r}: {err} For a model use model:SPEC[@WEIGHTS]; for a stored run run:RUN_ID."
        )
    params = parse_params(raw, what=f"contender {text!r}") if raw else {}
    create(name, **params)
    return Contender(text, "defense", defense=name, params=params)


@dataclass(frozen=True)
class CompareConfig:
    """Everything that defines a comparison; ``robustness compare`` flags use these names."""

    contenders: tuple[str, ...]
    model: str = "small-cnn"
    weights: str | None = None
    num_classes: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    random_weights: bool = False
    dataset: str = "digits"
    data_root: str | None = None
    download: bool = False
    n: int | None = None
    corruptions: tuple[str, ...] = ("benchmark",)
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    attacks: tuple[str, ...] = DEFAULT_ATTACKS
    eps: tuple[float, ...] = DEFAULT_EPS
    eps_l2: tuple[float, ...] = DEFAULT_EPS_L2
    attack_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    naive: bool = True
    seed: int = 0
    n_boot: int = 2000
    confidence: float = 0.95
    alpha: float = 0.05
    batch_size: int = 256
    device: str = "cpu"
    out: str = DEFAULT_OUT
    store: str | None = None
    command: str = ""

    def __post_init__(self) -> None:
        if len(self.contenders) < 2:
            raise UsageError(
                f"compare needs at least two contenders (the first is the baseline), but got {len(self.contenders)}; "
                "e.g. robustness compare standard pgd-at."
            )
        labels = [c.strip() for c in self.contenders]
        dupes = sorted({c for c in labels if labels.count(c) > 1})
        if dupes:
            raise UsageError(f"contenders should be distinct, but {', '.join(dupes)} is given twice.")
        if self.n_boot < 100:
            raise UsageError(f"--n-boot should be at least 100 bootstrap replicates, but got {self.n_boot}.")
        if not 0.5 < self.confidence < 1:
            raise UsageError(f"--confidence should lie in (0.5, 1), e.g. 0.95, but got {self.confidence}.")
        if not 0 < self.alpha < 0.5:
            raise UsageError(f"--alpha should lie in (0, 0.5), e.g. 0.05, but got {self.alpha}.")

    def store_path(self) -> Path:
        return Path(self.store) if self.store else Path(self.out) / "store.sqlite"


#: settings every contender's audit takes from the comparison
SHARED = (
    "model", "weights", "num_classes", "mean", "std", "random_weights", "dataset", "data_root", "download", "n", "corruptions",
    "severities", "attacks", "eps", "eps_l2", "attack_params", "seed", "batch_size", "device", "out", "command",
)  # fmt: skip


def audit_configs(config: CompareConfig, contender: Contender) -> dict[str, Any]:
    """The audits a contender needs: ``{"main": AuditConfig}`` plus ``"naive"`` for transforms."""
    from robustness.defenses import DEFENSES, DefenseKind

    base = {k: getattr(config, k) for k in SHARED} | {"store": str(config.store_path())}
    if contender.source == "model":
        base.update(model=contender.spec, weights=contender.weights)
        return {"main": AuditConfig(**base)}
    assert contender.defense is not None
    if contender.defense == "standard" and not contender.params:
        return {"main": AuditConfig(**base)}
    if DEFENSES.get(contender.defense).kind is DefenseKind.TRAINING:
        base["weights"] = None  # a training defense trains --model's architecture from scratch
    main = AuditConfig(
        **base, defense=contender.defense, defense_params=dict(contender.params), defense_eval="adaptive"
    )
    out = {"main": main}
    if DEFENSES.get(contender.defense).kind is DefenseKind.TRANSFORM and config.naive and "none" not in config.attacks:
        out["naive"] = replace(main, corruptions=("none",), defense_eval="naive")
    return out


@dataclass
class RunRef:
    """The stored runs behind one contender."""

    label: str
    run_id: str
    naive_run_id: str | None = None
    source: str = "run"


def run_contenders(config: CompareConfig, contenders: list[Contender]) -> list[RunRef]:
    """Check stored runs and prepare every fresh contender (training what needs training), then run the audits.

    Everything that can fail on bad input fails here, before the first audit runs.
    """
    from robustness.results.store import Store
    from robustness.results.writer import write_outputs
    from robustness.run.engine import run
    from robustness.run.prepare import prepare

    def run_audit(audit: AuditConfig) -> str:
        """Run (or resume) one contender's audit and write its own report folder; its run id."""
        outcome = run(audit)
        with Store(outcome.store, readonly=True) as store:
            write_outputs(store, outcome.run_id, Path(audit.out) / outcome.run_id)
        return outcome.run_id

    plans: list[tuple[Contender, dict[str, Any]]] = []
    samples: tuple[str, Any] | None = None
    for contender in contenders:
        if contender.source == "run":
            plans.append((contender, {}))
            continue
        print(f"preparing {contender.label} ...", file=sys.stderr)
        try:
            configs = audit_configs(config, contender)
            for audit in configs.values():
                prep = prepare(audit)
                samples = samples or (audit.dataset, prep.dataset.indices[prep.positions])
        except UsageError as err:
            raise UsageError(f"contender {contender.label!r}: {err}") from None
        plans.append((contender, configs))
    _check_stored(config, [c for c, _ in plans if c.source == "run"], samples)
    refs: list[RunRef] = []
    for k, (contender, configs) in enumerate(plans):
        if not configs:
            refs.append(RunRef(contender.label, str(contender.run_id), source="run"))
            continue
        print(f"[{k + 1}/{len(plans)}] {contender.label}: evaluating", file=sys.stderr)
        main = run_audit(configs["main"])
        naive = run_audit(configs["naive"]) if "naive" in configs else None
        refs.append(RunRef(contender.label, main, naive, contender.source))
    return refs


def _check_stored(config: CompareConfig, stored: list[Contender], samples: tuple[str, Any] | None) -> None:
    """Stored runs must exist and, next to fresh contenders, cover the same dataset and samples."""
    if not stored:
        return
    import numpy as np

    from robustness.results.store import Store

    with Store(config.store_path(), readonly=True) as store:
        for contender in stored:
            run = store.run(str(contender.run_id))  # raises with the list of stored runs
            if samples is None:
                continue
            dataset, ids = samples
            if run["dataset"] != dataset:
                raise UsageError(
                    f"cannot compare {contender.label!r}: it ran on dataset {run['dataset']!r}, the other contenders "
                    f"on {dataset!r}; compare runs of one dataset."
                )
            if not np.array_equal(run["sample_ids"], ids):
                raise UsageError(
                    f"cannot compare {contender.label!r}: it evaluated other samples than the other contenders "
                    f"({len(run['sample_ids'])} vs {len(ids)}); pass the --n (and --dataset) it ran with."
                )
