"""Where the model looked: attribution maps of the report's example images, stored at audit time.

For each example (the corruption grid's clean image, that image under the worst corruption of
every family at the plan's highest severity, one adversarial example per norm) two maps are
stored, for the true class and for the predicted class, as uint8 (255 = the strongest
attribution of that map), so ``robustness report`` redraws them without the model.

Method: Grad-CAM (Selvaraju et al. 2017) on the last ``nn.Conv2d`` of the model when it has one,
else Integrated Gradients (Sundararajan et al. 2017; 32 steps from a black image, absolute value
summed over channels). Both come from captum: it is PyTorch's own interpretability library
(maintained under the pytorch organisation), works on any ``nn.Module`` through a forward
function, and offers both layer (Grad-CAM) and input-gradient methods behind one API, where
pytorch-grad-cam and torchcam cover class-activation maps only. A TorchScript model runs a
compiled graph that never calls Python forward hooks, which Grad-CAM needs on the
convolution, so TorchScript models get Integrated Gradients (gradients flow through
TorchScript) and the report says why.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from robustness.results.records import ADVERSARIAL, ATTRIBUTION, GRID
from robustness.results.store import Store
from robustness.run.artifacts import corrupted, to_uint8

if TYPE_CHECKING:
    from robustness.run.prepare import Prepared

log = logging.getLogger(__name__)

IG_STEPS = 32
TORCHSCRIPT_NOTE = (
    "The model is TorchScript: Grad-CAM needs a forward hook on the last convolution, and a compiled "
    "TorchScript graph never runs Python hooks, so the maps are Integrated Gradients on the input."
)


def is_torchscript(model: nn.Module) -> bool:
    return any(isinstance(m, torch.jit.ScriptModule) for m in model.modules())


def last_conv(model: nn.Module) -> tuple[str, nn.Conv2d] | None:
    """The last ``nn.Conv2d`` in module order (None for TorchScript or convolution-free models)."""
    if is_torchscript(model):
        return None
    convs = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    return convs[-1] if convs else None


def method_of(model: nn.Module) -> tuple[str, str]:
    """(description of the method the maps use, note on why Grad-CAM was not used or '')."""
    conv = last_conv(model)
    if conv is not None:
        return f"Grad-CAM on the last convolution `{conv[0]}` (captum LayerGradCam), upsampled to the image", ""
    method = f"Integrated Gradients on the input (captum, {IG_STEPS} steps from a black image, |attribution| over channels)"
    if is_torchscript(model):
        return method, TORCHSCRIPT_NOTE
    return method, "The model has no convolution, so Grad-CAM does not apply."


def to_uint8_maps(maps: torch.Tensor) -> np.ndarray:
    """``[k, H, W]`` non-negative maps -> uint8, each scaled so its maximum is 255 (an all-zero map stays 0)."""
    flat = maps.detach().float().clamp(min=0).flatten(1)
    peak = flat.max(dim=1, keepdim=True).values
    scaled = torch.where(peak > 0, flat / peak.clamp(min=1e-30), torch.zeros_like(flat))
    return (scaled * 255 + 0.5).to(torch.uint8).view_as(maps).cpu().numpy()


def attribution_maps(model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """One uint8 map ``[k, H, W]`` per image for its target class (see the module docstring for the method)."""
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam

    x = images.detach().clone().requires_grad_(True)
    conv = last_conv(model)
    with torch.enable_grad():
        if conv is not None:
            cam = LayerGradCam(model, conv[1]).attribute(x, target=targets, relu_attributions=True)
            maps = LayerAttribution.interpolate(cam, tuple(images.shape[-2:]), interpolate_mode="bilinear")[:, 0]
        else:
            ig = IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), target=targets, n_steps=IG_STEPS)
            maps = ig.abs().sum(dim=1)
    return to_uint8_maps(maps)


def _examples(prep: Prepared, store: Store) -> tuple[list[torch.Tensor], list[int], list[str]]:
    """The images to explain, their labels and titles: clean, worst corruption per family, one adversarial per norm."""
    grid = store.artifact(prep.run_id, GRID)
    order = int(grid["sample"]) if isinstance(grid, dict) else int(np.argmax(store.bits(prep.run_id)["clean"]))
    position = np.asarray([prep.positions[order]])
    clean, label = prep.dataset.load(position)
    images, labels, titles = [clean], [int(label[0])], ["clean"]
    cells = store.cells(prep.run_id)
    corr = cells[cells["kind"] == "corruption"].assign(accuracy=lambda d: d["correct"] / d["n"])
    if len(corr):
        means = corr.groupby(["family", "perturbation"], as_index=False)["accuracy"].mean()
        for family, g in means.groupby("family"):
            name = str(g.sort_values(["accuracy", "perturbation"]).iloc[0]["perturbation"])
            severity = int(corr.loc[corr["perturbation"] == name, "severity"].max())
            images.append(corrupted(prep, name, severity, clean, position))
            labels.append(int(label[0]))
            titles.append(f"{name} s{severity} ({family})")
    images, labels, titles = _adversarial_examples(prep, store, images, labels, titles)
    return images, labels, titles


def _adversarial_examples(
    prep: Prepared, store: Store, images: list, labels: list, titles: list
) -> tuple[list[torch.Tensor], list[int], list[str]]:
    """One stored adversarial example per norm (PGD preferred), rebuilt as original + stored float16 perturbation."""
    metas = [store.artifact(prep.run_id, f"{ADVERSARIAL}/{t.name}") for t in prep.plan.attack_tasks]
    metas = [m for m in metas if isinstance(m, dict) and m.get("samples")]
    for norm in sorted({m["norm"] for m in metas}, key=lambda n: (n != "linf", n)):
        same = [m for m in metas if m["norm"] == norm]
        chosen = min(same, key=lambda m: (not m["attack"].startswith("pgd"), m["attack"]))
        base = f"{ADVERSARIAL}/{chosen['attack']}"  # the names run/artifacts.py stores under
        deltas = store.artifact(prep.run_id, f"{base}/deltas")
        sample = chosen["samples"][0]
        x, _ = prep.dataset.load(np.asarray([prep.positions[int(sample["sample"])]]))
        delta = torch.as_tensor(np.asarray(deltas[0], dtype=np.float32)).permute(2, 0, 1)[None]
        images.append((x + delta.to(x.dtype)).clamp(*prep.classifier.bounds))
        labels.append(int(sample["label"]))
        titles.append(f"{chosen['attack']} ε {float(chosen['epsilon']):.4g}")
    return images, labels, titles


def save_attributions(prep: Prepared, store: Store) -> None:
    """Compute and store the attribution maps of the report's examples (skipped when already stored)."""
    if store.artifact(prep.run_id, ATTRIBUTION) is not None or "clean" not in store.finished_cells(prep.run_id):
        return
    model = prep.classifier
    method, note = method_of(model)
    images, labels, titles = _examples(prep, store)
    x = torch.cat(images).to(model.device)
    y = torch.as_tensor(labels, device=model.device)
    with torch.no_grad():
        predictions = model(x).argmax(1)
    meta: dict[str, Any] = {"method": method, "note": note, "examples": []}
    try:
        maps = np.stack([attribution_maps(model, x, y), attribution_maps(model, x, predictions)], axis=1)
    except (RuntimeError, AssertionError) as err:  # e.g. a defense's non-differentiable input transform
        meta["note"] = f"{note} Attribution failed on this model: {str(err).splitlines()[0]}".strip()
        store.put_artifact(prep.run_id, ATTRIBUTION, meta)
        return
    store.put_artifact(prep.run_id, f"{ATTRIBUTION}/images", to_uint8(x))
    store.put_artifact(prep.run_id, f"{ATTRIBUTION}/maps", maps)
    meta["examples"] = [
        {"title": t, "label": int(l), "prediction": int(p)} for t, l, p in zip(titles, labels, predictions.tolist())
    ]
    store.put_artifact(prep.run_id, ATTRIBUTION, meta)


__all__ = ["attribution_maps", "last_conv", "method_of", "save_attributions"]
