"""``--model timm:<name>``: a timm architecture with its own preprocessing (mean, std, input size).

Weights come from ``--weights`` (a state_dict), or with ``--pretrained`` from the local caches
timm downloads into (the Hugging Face hub cache, or torch hub's checkpoints for URL weights);
nothing is downloaded unless the caller passes ``download`` (``--download``). timm is an extra:
``pip install 'robustness-suite[timm]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from robustness.core.errors import UsageError

#: file names timm's Hugging Face repositories keep weights under, in the order timm prefers them
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def _import_timm() -> Any:
    try:
        import timm
    except ImportError:
        raise UsageError("--model timm:NAME needs timm, which is not installed: pip install 'robustness-suite[timm]'.") from None
    return timm


def cached_weights(pretrained_cfg: dict[str, Any]) -> Path | None:
    """Where the published weights of ``pretrained_cfg`` lie in the local caches, or None."""
    hub_id = pretrained_cfg.get("hf_hub_id")
    if hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo, _, revision = str(hub_id).partition("@")
        names = [pretrained_cfg["hf_hub_filename"]] if pretrained_cfg.get("hf_hub_filename") else HF_WEIGHT_FILES
        for filename in names:
            found = try_to_load_from_cache(repo, filename, revision=revision or None)
            if isinstance(found, str):
                return Path(found)
    url = pretrained_cfg.get("url")
    if url:
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(str(url)).path).name
        if cached.is_file():
            return cached
    return None


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A cached checkpoint of published weights: safetensors, or a plain state_dict (``weights_only``)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def build_timm(name: str, *, num_classes: int | None, pretrained: bool, download: bool) -> tuple[nn.Module, dict[str, object]]:
    """The timm model ``name`` (random weights unless ``pretrained``) and its preprocessing metadata.

    ``pretrained`` loads the published weights from the local cache, or downloads them when
    ``download``; without either a :class:`UsageError` says what to do.
    """
    timm = _import_timm()
    if not timm.is_model(name):
        import difflib

        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UsageError(f"Unknown timm model {name!r}.{hint} See timm.list_models() for the names timm knows.")
    kwargs: dict[str, Any] = {"num_classes": num_classes} if num_classes else {}
    if not pretrained:
        model = timm.create_model(name, pretrained=False, **kwargs)
    else:
        cfg = timm.models.get_pretrained_cfg(name)
        cfg = cfg.to_dict() if cfg is not None else {}
        path = cached_weights(cfg)
        if path is not None:  # timm adapts the classifier to num_classes, as for a download
            overlay = {"state_dict": _read_weights(path), "source": "timm"}
            model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs)
        elif download:
            model = timm.create_model(name, pretrained=True, **kwargs)
        else:
            where = cfg.get("hf_hub_id") or cfg.get("url") or "nowhere (timm publishes no weights for it)"
            raise UsageError(
                f"--pretrained weights for timm:{name} are not in the local cache (from {where}); pass --download "
                "to fetch them, or --weights with a local state_dict."
            )
    return model, preprocessing(model)


def preprocessing(model: nn.Module) -> dict[str, object]:
    """The model's own input size, mean and std, from its pretrained config (timm's ``resolve_data_config``)."""
    from timm.data import resolve_data_config

    data = resolve_data_config({}, model=model)
    channels, height, width = data["input_size"]
    meta: dict[str, object] = {
        "mean": tuple(float(v) for v in data["mean"]),
        "std": tuple(float(v) for v in data["std"]),
        "input_shape": (int(channels), int(height), int(width)),
    }
    classes = getattr(model, "num_classes", None)
    if isinstance(classes, int) and classes > 0:
        meta["num_classes"] = classes
    return meta
