"""Resolve a model SPEC into a :class:`Classifier`.

SPEC is one of: a built-in name (``small-cnn``), ``torchvision:<arch>``, ``timm:<name>``,
``package.module:Class`` (with ``--weights``), or a TorchScript file. Checkpoints load with
``torch.load(weights_only=True)``; a checkpoint that needs pickle code is refused unless the
caller passes ``unsafe_load=True`` for a file they trust.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from robustness.core.errors import UsageError
from robustness.models.classifier import Classifier
from robustness.models.timm_loading import build_timm
from robustness.models.zoo import MODELS

TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript", ".jit")
#: how PyTorch checkpoints begin: a zip archive (torch.save since 1.6) or a pickle (the legacy format)
CHECKPOINT_MAGIC = (b"PK\x03\x04", b"\x80")


@dataclass(frozen=True)
class ModelRequest:
    spec: str = "small-cnn"
    weights: str | None = None
    num_classes: int | None = None
    input_shape: tuple[int, int, int] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    pretrained: bool = False
    download: bool = False
    unsafe_load: bool = False
    random_weights: bool = False  # audit an architecture without trained weights on purpose (timing runs)


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def load_state_dict(path: str | Path, *, unsafe_load: bool = False) -> dict[str, torch.Tensor]:
    """Read a state_dict (or a dict holding one under ``state_dict``/``model``) from ``path``."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--weights file {str(path)!r} does not exist; pass the path of a saved state_dict.")
    with open(path, "rb") as f:
        head = f.read(4)
    if not head.startswith(CHECKPOINT_MAGIC):
        raise UsageError(
            f"--weights file {str(path)!r} is not a PyTorch checkpoint (it starts with {head!r}, not a torch.save "
            "archive); pass a file written by torch.save(model.state_dict(), PATH)."
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not unsafe_load)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(
            f"--weights file {str(path)!r} needs pickle code to load ({first[:120]}); it was not loaded. "
            "Save a plain state_dict, or pass --unsafe-load if you trust the file."
        ) from None
    except (RuntimeError, EOFError, OSError, KeyError, ValueError) as err:
        raise UsageError(f"--weights file {str(path)!r} is not a readable PyTorch checkpoint: {err}".splitlines()[0]) from None
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UsageError(f"--weights file {str(path)!r} should hold a state_dict (name -> tensor), but got {type(obj).__name__}.")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def apply_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{'...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}{'...' if len(unexpected) > 3 else ''}")
        if mismatched:
            k = mismatched[0]
            parts.append(f"shape of {k} is {tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in the model")
        raise UsageError(
            f"weights {source!r} do not fit the architecture ({'; '.join(parts)}); check --model and --num-classes."
        )
    model.load_state_dict(state)


def _user_class(spec: str, num_classes: int | None) -> nn.Module:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise UsageError(f"--model {spec!r}: cannot import module {module_name!r} ({err}); check PYTHONPATH.") from None
    cls = getattr(module, attr, None)
    if cls is None:
        raise UsageError(f"--model {spec!r}: module {module_name!r} has no attribute {attr!r}.")
    params = inspect.signature(cls).parameters
    model = cls(num_classes=num_classes) if num_classes is not None and "num_classes" in params else cls()
    if not isinstance(model, nn.Module):
        raise UsageError(f"--model {spec!r} should build a torch.nn.Module, but built {type(model).__name__}.")
    return model


def _torchvision(arch: str, request: ModelRequest) -> tuple[nn.Module, dict[str, object]]:
    """A torchvision architecture; with ``pretrained`` its published weights and preprocessing."""
    import torchvision.models as tvm

    if arch not in tvm.list_models():
        from robustness.core.errors import unknown_name

        raise unknown_name("torchvision model", arch, tvm.list_models())
    if not request.pretrained:
        kwargs = {"num_classes": request.num_classes} if request.num_classes else {}
        return tvm.get_model(arch, weights=None, **kwargs), {}
    weights = tvm.get_model_weights(arch).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cached.exists() and not request.download:
        raise UsageError(
            f"--pretrained weights for {arch} are not in the local torch cache ({cached}); "
            "pass --download to fetch them, or --weights with a local state_dict."
        )
    model = tvm.get_model(arch, weights=None)
    if cached.exists():
        apply_weights(model, load_state_dict(cached), str(cached))
    else:
        model = tvm.get_model(arch, weights=weights)
    preprocess = weights.transforms()
    crop = preprocess.crop_size[0] if isinstance(preprocess.crop_size, (list, tuple)) else preprocess.crop_size
    resize = preprocess.resize_size[0] if isinstance(preprocess.resize_size, (list, tuple)) else preprocess.resize_size
    meta = {
        "mean": tuple(preprocess.mean),
        "std": tuple(preprocess.std),
        "input_shape": (3, int(crop), int(crop)),
        "resize": int(resize),
        "num_classes": len(weights.meta["categories"]),
        "class_names": tuple(weights.meta["categories"]),
    }
    return model, meta


def check_has_weights(request: ModelRequest) -> None:
    """Refuse an architecture that would run with the weights its constructor draws (random, for a standard one).

    Built-ins are trained and cached on first use and TorchScript files carry their weights; any
    other architecture needs ``weights`` or ``pretrained``, or ``random_weights`` to say it is intended.
    """
    spec = request.spec
    if spec in MODELS or Path(spec).suffix in TORCHSCRIPT_SUFFIXES or Path(spec).is_file():
        return
    if request.weights or request.pretrained or request.random_weights:
        return
    raise UsageError(
        f"--model {spec!r} has no trained weights: pass --weights FILE (a state_dict)"
        + (" or --pretrained (the published weights, from the local cache)" if spec.startswith(("torchvision:", "timm:")) else "")
        + "; to audit it with the weights its constructor draws (random: timing runs only), pass --random-weights."
    )


def build_model(request: ModelRequest, in_channels: int, num_classes: int) -> tuple[nn.Module, dict[str, object]]:
    """The bare ``nn.Module`` for ``request`` (weights applied when given) and any metadata it carries.

    Raises :class:`UsageError` for an architecture without trained weights (see :func:`check_has_weights`).
    """
    spec = request.spec
    meta: dict[str, object] = {}
    if spec in MODELS:
        model = MODELS.get(spec)(in_channels, num_classes)
    elif spec.startswith("torchvision:"):
        model, meta = _torchvision(spec.split(":", 1)[1], request)
    elif spec.startswith("timm:"):  # published weights keep their classes unless --num-classes says otherwise
        classes = request.num_classes if request.pretrained else num_classes
        model, meta = build_timm(spec.split(":", 1)[1], num_classes=classes, pretrained=request.pretrained, download=request.download)
    elif Path(spec).suffix in TORCHSCRIPT_SUFFIXES or Path(spec).is_file():
        if not Path(spec).is_file():
            raise UsageError(f"--model file {spec!r} does not exist; pass a TorchScript file or a model name.")
        try:
            model = torch.jit.load(spec, map_location="cpu")
        except RuntimeError as err:
            raise UsageError(
                f"--model file {spec!r} is not a TorchScript archive ({str(err).splitlines()[0][:100]}); "
                "for a state_dict use --model ARCH --weights FILE."
            ) from None
        return model, meta
    elif ":" in spec:
        model = _user_class(spec, num_classes)
    else:
        from robustness.core.errors import unknown_name

        raise unknown_name("model", spec, [*MODELS, "torchvision:<arch>", "timm:<name>", "package.module:Class", "<file>.pt"])
    check_has_weights(request)
    if request.weights:
        apply_weights(model, load_state_dict(request.weights, unsafe_load=request.unsafe_load), request.weights)
    return model, meta


def make_classifier(
    model: nn.Module,
    *,
    num_classes: int,
    input_shape: tuple[int, int, int],
    mean: tuple[float, ...] | None,
    std: tuple[float, ...] | None,
    name: str,
) -> Classifier:
    model.eval()
    return Classifier(model, num_classes=num_classes, input_shape=input_shape, mean=mean, std=std, name=name)
