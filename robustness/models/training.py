"""Training built-in models, and the cache that keeps trained weights between runs."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from robustness.core.progress import progress_bar
from robustness.data.base import ImageDataset
from robustness.models.zoo import architecture_key

#: A training-loss hook: (model, images, labels) -> loss. Defenses supply their own.
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TrainRecipe:
    """How a built-in model is trained; part of the cache key."""

    epochs: int = 15
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    defense: str = "standard"
    defense_params: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs should be at least 1, but got {self.epochs}.")
        if self.batch_size < 1:
            raise ValueError(f"batch_size should be at least 1, but got {self.batch_size}.")
        if self.lr <= 0:
            raise ValueError(f"lr should be positive, but got {self.lr}.")

    def key(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:10]


def cross_entropy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(images), labels)


def train_model(
    model: nn.Module,
    dataset: ImageDataset,
    recipe: TrainRecipe,
    *,
    seed: int,
    loss_fn: LossFn = cross_entropy,
    device: str = "cpu",
    desc: str = "train",
) -> nn.Module:
    """Train ``model`` (pixel-space inputs in [0, 1]) on ``dataset``; deterministic given ``seed``."""
    torch.manual_seed(seed)
    model.to(device).train()
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps_per_epoch = -(-len(dataset) // recipe.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch
    )
    images, labels = dataset.load(np.arange(len(dataset)))
    with progress_bar(total=recipe.epochs, desc=desc, unit="epoch") as bar:
        for _ in range(recipe.epochs):
            order = torch.randperm(len(images), generator=generator)
            for start in range(0, len(order), recipe.batch_size):
                idx = order[start : start + recipe.batch_size]
                x, y = images[idx].to(device), labels[idx].to(device)
                loss = loss_fn(model, x, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
            bar.update(1)
    return model.eval()


def cache_dir() -> Path:
    """Where trained weights live: ``$ROBUSTNESS_CACHE`` or ``~/.cache/robustness-suite``."""
    return Path(os.environ.get("ROBUSTNESS_CACHE") or Path.home() / ".cache" / "robustness-suite")


def cache_path(arch: str, dataset: str, seed: int, recipe: TrainRecipe) -> Path:
    """Where ``arch`` trained on ``dataset`` is cached: keyed by the seed, the recipe and the layers themselves."""
    name = f"{arch}-{dataset}-seed{seed}-{recipe.defense}-{recipe.key()}-{architecture_key(arch)}.pt"
    return cache_dir() / "models" / name


def save_checkpoint(model: nn.Module, path: Path, meta: dict[str, object]) -> None:
    """Write weights (tensors only, loadable with ``weights_only=True``) and a JSON sidecar, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(model.state_dict(), tmp)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)
