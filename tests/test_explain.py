"""Per-class damage, confidence under shift, selective prediction and attribution maps, each with a planted case."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from reports.calibration import (
    confident_error_share,
    expected_calibration_error,
    reliability_bins,
    selective_accuracy,
)
from reports.explain import describe_confusion, explain
from robustness.data.base import ArrayDataset
from robustness.models.classifier import Classifier
from robustness.results.outputs import outputs_name
from robustness.results.records import load_samples
from robustness.results.store import Store
from robustness.run import cells
from robustness.run.attribution import attribution_maps, method_of
from robustness.run.plan import CLEAN, corruption_cell

K = 8  # classes of the planted data: class c lights row c of an 8 x 8 image


def row_images(labels: np.ndarray) -> np.ndarray:
    images = np.zeros((len(labels), 8, 8, 1), dtype=np.float32)
    images[np.arange(len(labels)), labels] = 0.8
    return images


class RowReader(nn.Module):
    """Predicts the brightest row; class 3 becomes class 5 as soon as the background is lit (a brightness shift)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.mean(dim=(1, 3))  # [N, 8]
        logits = 20 * rows
        lit = (x.amin(dim=(1, 2, 3)) > 0.05) & (rows.argmax(1) == 3)
        return logits + 100 * torch.nn.functional.one_hot(torch.full_like(lit, 5, dtype=torch.long), K) * lit[:, None]


def planted_prep(tmp_path: Path, n: int = 64) -> tuple[SimpleNamespace, Store]:
    labels = np.arange(n) % K
    dataset = ArrayDataset("rows", row_images(labels), labels, [f"c{i}" for i in range(K)])
    classifier = Classifier(RowReader().eval(), num_classes=K, input_shape=(1, 8, 8))
    prep = SimpleNamespace(
        classifier=classifier, dataset=dataset, positions=np.arange(n), labels=labels, precomputed=None,
        config=SimpleNamespace(batch_size=24, seed=0, loader_workers=0), run_id="planted", plan=None,
    )  # fmt: skip
    store = Store(tmp_path / "store.sqlite")
    store.begin_run("planted", model="rows", dataset="rows", seed=0, config={}, info={}, sample_ids=np.arange(n),
                    labels=labels)  # fmt: skip
    return prep, store


def test_one_class_failure_is_found_per_class_and_as_a_created_confusion(tmp_path: Path) -> None:
    prep, store = planted_prep(tmp_path)
    for cell in (CLEAN, corruption_cell("brighten", 1), corruption_cell("brighten", 3)):
        _, outputs = cells.evaluate_clean(prep) if cell is CLEAN else cells.evaluate_corruption(prep, cell)
        cells.commit_cell(prep, store, cell, outputs, 0.0)
    from reports import tidy

    results = tidy(store.cells("planted"))
    ex = explain(results, load_samples(store, "planted"), [f"c{i}" for i in range(K)])
    store.close()
    assert (results["accuracy"].iloc[0] == 1.0) and (results["accuracy"].iloc[1:] == 7 / 8).all()
    drop = ex.class_drop["lighting"]
    assert drop.idxmax() == "c3" and drop["c3"] == pytest.approx(1.0)
    assert (drop.drop("c3") == 0).all(), "only the planted class loses accuracy"
    fragile = ex.fragile_classes.set_index("group").loc["lighting"]
    assert fragile["class_name"] == "c3" and fragile["accuracy"] == 0
    top = ex.confusions.iloc[0]
    assert (top["true"], top["predicted"], top["count"]) == (3, 5, 8)
    assert describe_confusion(top) == "c3 -> c5 under brighten (severity 1): 8 samples"
    assert set(ex.confusions["true"]) == {3}, "no confusion is created for the other classes"
    per_class = ex.per_class[ex.per_class["kind"] == "corruption"]
    assert len(per_class) == 2 * K and per_class.loc[per_class["class"] == 3, "accuracy"].eq(0).all()


class GaussianBayes(nn.Module):
    """The exact posterior of a 4-class isotropic Gaussian mixture (calibrated by construction), times ``scale``."""

    def __init__(self, means: torch.Tensor, sigma: float, scale: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("means", means)
        self.sigma, self.scale = sigma, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d2 = torch.cdist(x.flatten(1), self.means) ** 2
        return self.scale * (-d2 / (2 * self.sigma**2))


def test_scaled_logits_raise_ece_and_confident_errors() -> None:
    gen = torch.Generator().manual_seed(0)
    means = torch.rand(4, 16, generator=gen)
    labels = torch.arange(4000) % 4
    sigma = 0.35
    x = (means[labels] + sigma * torch.randn(4000, 16, generator=gen)).view(-1, 1, 4, 4)
    rows = {}
    for scale in (1.0, 5.0):
        clf = Classifier(GaussianBayes(means, sigma, scale).eval(), num_classes=4, input_shape=(1, 4, 4))
        out = cells.sample_outputs(clf, x, labels)
        ok = out["prediction"] == labels.numpy()
        rows[scale] = (expected_calibration_error(out["confidence"], ok), confident_error_share(out["confidence"], ok))
    assert 0.6 < ok.mean() < 0.95, "the planted task should leave errors to be confident about"
    assert rows[1.0][0] < 0.03, f"the Bayes posterior should be calibrated, ECE {rows[1.0][0]:.3f}"
    assert rows[5.0][0] > rows[1.0][0] + 0.05
    assert rows[5.0][1] > rows[1.0][1] + 0.2


def test_ece_matches_torchmetrics() -> None:
    from torchmetrics.functional.classification import multiclass_calibration_error

    gen = torch.Generator().manual_seed(1)
    probs = torch.softmax(3 * torch.randn(500, 5, generator=gen), dim=1)
    target = torch.randint(0, 5, (500,), generator=gen)
    conf, pred = probs.max(1)
    for bins in (5, 15, 30):
        ours = expected_calibration_error(conf.numpy(), (pred == target).numpy(), n_bins=bins)
        theirs = float(multiclass_calibration_error(probs, target, num_classes=5, n_bins=bins, norm="l1"))
        assert ours == pytest.approx(theirs, abs=1e-6)


def test_reliability_bins_and_selective_accuracy() -> None:
    conf = np.array([0.95, 0.9, 0.85, 0.6, 0.55, 1.0])
    ok = np.array([1, 1, 0, 1, 0, 1], dtype=bool)
    bins = reliability_bins(conf, ok, n_bins=2)
    assert list(bins["count"]) == [0, 5, 1]  # [0, .5), [.5, 1), exactly 1
    # the three most confident (1.0, .95, .9) are right; the next (.85) is wrong
    assert selective_accuracy(conf, ok, 0.5) == 1.0
    assert selective_accuracy(conf, ok, 4 / 6) == pytest.approx(3 / 4)
    assert selective_accuracy(conf, ok, 1.0) == pytest.approx(ok.mean())
    with pytest.raises(ValueError, match="coverage should lie in"):
        selective_accuracy(conf, ok, 0.0)


class CornerNet(nn.Module):
    """Sees only the top-left 4 x 4 corner of a 12 x 12 image (bias-free convolutions keep the rest at zero)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        mask = torch.zeros(1, 1, 12, 12)
        mask[..., :4, :4] = 1
        self.register_buffer("mask", mask)
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv2(torch.relu(self.conv1(x * self.mask))))
        return self.head(h.mean(dim=(2, 3)))


@pytest.mark.parametrize("scripted", [False, True], ids=["grad-cam", "torchscript-integrated-gradients"])
def test_corner_model_attribution_concentrates_in_the_corner(scripted: bool) -> None:
    net = CornerNet().eval()
    model = torch.jit.script(net) if scripted else net
    clf = Classifier(model, num_classes=3, input_shape=(1, 12, 12))
    x = torch.rand(6, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        pred = clf(x).argmax(1)
    maps = attribution_maps(clf, x, pred).astype(float)
    method, note = method_of(clf)
    assert ("Grad-CAM" in method) != scripted and ("TorchScript" in note) == scripted
    assert maps.shape == (6, 12, 12) and maps.max() == 255
    corner = maps[:, :6, :6].sum() / maps.sum()  # the 4 x 4 corner plus the convolutions' reach (bilinear upsampling)
    assert corner > 0.95, f"only {corner:.0%} of the attribution lies in the corner the model sees"
    assert maps[:, 7:, 7:].max() == 0


def test_audit_stores_outputs_per_cell_and_writes_per_class_csv(tmp_path: Path, digits_weights: str) -> None:
    from robustness.api import run_audit
    from robustness.run.config import AuditConfig

    config = AuditConfig(n=48, corruptions=("rotation",), severities=(5,), attacks=("fgsm", "pgd_linf"),
                         eps=(0.1,), eps_l2=(), batch_size=20, out=str(tmp_path / "out"))  # fmt: skip
    outcome = run_audit(config)
    with Store(outcome.store, readonly=True) as store:
        samples = load_samples(store, outcome.run_id)
        names = store.artifact_names(outcome.run_id)
    assert set(samples.outputs) == set(samples.correct), "every cell keeps its per-sample outputs"
    for key, records in samples.outputs.items():
        assert records.dtype.itemsize == 6 and outputs_name(key) in names
        if not key.startswith("attack/"):
            np.testing.assert_array_equal(records["prediction"] == samples.labels, samples.correct[key])
    worst = samples.outputs["attack/worst_case/linf/0.1"]
    fooled = samples.correct["clean"] & ~samples.correct["attack/worst_case/linf/0.1"]
    assert (worst["prediction"][fooled] != samples.labels[fooled]).all()
    per_class = pd.read_csv(outcome.out_dir / "per_class.csv")
    assert {"cell", "class", "accuracy", "clean_accuracy", "drop"} <= set(per_class.columns)
    assert per_class.groupby("cell")["n"].sum().eq(48).all()
    calibration = pd.read_csv(outcome.out_dir / "calibration.csv")
    assert calibration["bins"].eq(15).all() and calibration["ece"].between(0, 1).all()
    report = (outcome.out_dir / "report.md").read_text()
    assert "## What broke" in report and "Selective prediction" in report and "Where the model looked" in report


def test_torchvision_model_gets_grad_cam_on_its_last_convolution() -> None:
    import torchvision

    torch.manual_seed(0)
    clf = Classifier(torchvision.models.resnet18(num_classes=3).eval(), num_classes=3, input_shape=(3, 32, 32))
    method, note = method_of(clf)
    assert "Grad-CAM" in method and "layer4.1.conv2" in method and note == ""
    maps = attribution_maps(clf, torch.rand(2, 3, 32, 32), torch.tensor([0, 2]))
    assert maps.shape == (2, 32, 32) and maps.dtype == np.uint8
