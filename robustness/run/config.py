"""The audit configuration: a frozen, validated dataclass that round-trips to dict/YAML."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from robustness.core.budgets import DEFAULT_ATTACKS, DEFAULT_EPS_L2, DEFAULT_EPS_LINF
from robustness.core.errors import UsageError
from robustness.core.typecheck import tuple_fields, type_errors

DEFAULT_OUT = "robustness-runs"

#: the embedded default audit's attacks (owned by :mod:`robustness.core.budgets`)
AUDIT_ATTACKS = DEFAULT_ATTACKS

#: fields that say where or how fast to compute, not what: they do not change the run id
NON_IDENTITY = (
    "out", "store", "device", "batch_size", "backend", "address", "workers", "command", "loader_workers",
    "skip_bad_images",  # which images were skipped enters the run id itself (run.prepare)
    "random_weights",
)  # fmt: skip


@dataclass(frozen=True)
class AuditConfig:
    """Everything that defines an audit. ``robustness audit`` flags and YAML keys use these names."""

    model: str = "small-cnn"
    weights: str | None = None
    num_classes: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    pretrained: bool = False
    download: bool = False
    unsafe_load: bool = False
    random_weights: bool = False
    dataset: str = "digits"
    data_root: str | None = None
    n: int | None = None
    corruptions: tuple[str, ...] = ("all",)
    precomputed: str | None = None
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    attacks: tuple[str, ...] = AUDIT_ATTACKS
    eps: tuple[float, ...] = DEFAULT_EPS_LINF
    eps_l2: tuple[float, ...] = DEFAULT_EPS_L2
    attack_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    sanity: bool = True
    defense: str | None = None
    defense_params: dict[str, Any] = field(default_factory=dict)
    defense_eval: str = "adaptive"
    seed: int = 0
    batch_size: int = 256
    device: str = "cpu"
    out: str = DEFAULT_OUT
    store: str | None = None
    backend: str = "local"
    address: str | None = None
    workers: int | None = None
    #: DataLoader worker processes reading the images (None: a default from the CPU count; 0: read in the main process)
    loader_workers: int | None = None
    skip_bad_images: bool = False
    command: str = ""

    def __post_init__(self) -> None:
        for key in tuple_fields(type(self)):  # YAML, JSON and Python callers give lists for these
            if isinstance(getattr(self, key), list):
                object.__setattr__(self, key, tuple(getattr(self, key)))
        wrong = type_errors(self, name="{!r}")
        if wrong:
            raise UsageError(f"config values have the wrong type: {'; '.join(wrong)}; fix them in --config (or the call).")
        if self.n is not None and self.n < 1:
            raise UsageError(f"--n should be a positive number of samples, but got {self.n}.")
        if self.batch_size < 1:
            raise UsageError(f"--batch-size should be positive, but got {self.batch_size}.")
        for sev in self.severities:
            if isinstance(sev, bool) or not isinstance(sev, int) or not 1 <= sev <= 5:
                raise UsageError(f"--severities should be integers between 1 and 5, but got {sev!r}; use e.g. 1-5 or 1,3,5.")
        for name, values in (("--eps", self.eps), ("--eps-l2", self.eps_l2)):
            for value in values:
                if not value >= 0:
                    raise UsageError(f"{name} values should be non-negative, but got {value}; pass budgets like 0.03,0.1.")
        if self.backend not in ("local", "ray"):
            raise UsageError(f"--backend should be 'local' or 'ray', but got {self.backend!r}.")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise UsageError(f"--device should be 'cpu' or 'cuda[:N]', but got {self.device!r}.")
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"--workers should be a positive number of Ray CPUs, but got {self.workers}.")
        if self.loader_workers is not None and (isinstance(self.loader_workers, bool) or self.loader_workers < 0):
            raise UsageError(
                f"--loader-workers should be 0 (read in the main process) or a positive number of processes, "
                f"but got {self.loader_workers!r}."
            )
        if self.num_classes is not None and self.num_classes < 2:
            raise UsageError(f"--num-classes should be at least 2, but got {self.num_classes}.")
        if self.defense_eval not in ("adaptive", "naive"):
            raise UsageError(f"--defense-eval should be 'adaptive' or 'naive', but got {self.defense_eval!r}.")
        if self.defense is None and (self.defense_params or self.defense_eval != "adaptive"):
            given = "--defense-params" if self.defense_params else "--defense-eval"
            raise UsageError(f"{given} needs --defense NAME (see `robustness list defenses`), but no defense was given.")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"config has unknown keys {', '.join(unknown)}; known keys: {', '.join(sorted(known))}.")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> AuditConfig:
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"--config file {str(path)!r} does not exist.")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise UsageError(f"--config file {str(path)!r} is not valid YAML: {str(err).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise UsageError(f"--config file {str(path)!r} should hold a mapping of settings, but got {type(data).__name__}.")
        return cls.from_dict({k.replace("-", "_"): v for k, v in data.items()})

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def store_path(self) -> Path:
        return Path(self.store) if self.store else Path(self.out) / "store.sqlite"

    def identity(self, **resolved: Any) -> dict[str, Any]:
        """What makes two audits the same run (resolved names and weight digests included)."""
        ident = {k: v for k, v in self.to_dict().items() if k not in NON_IDENTITY}
        if self.defense is None:  # undefended audits keep the run ids they had before defenses existed
            for key in ("defense", "defense_params", "defense_eval"):
                ident.pop(key)
        ident.update(resolved)
        return ident


def run_id_for(config: AuditConfig, **resolved: Any) -> str:
    """A readable, deterministic run id: ``<dataset>-<model>-<hash>``."""
    blob = json.dumps(config.identity(**resolved), sort_keys=True, default=str).encode()
    digest = hashlib.sha256(blob).hexdigest()[:10]
    slug = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in f"{config.dataset}-{config.model}")
    return f"{slug.strip('-')[:48]}-{digest}"
