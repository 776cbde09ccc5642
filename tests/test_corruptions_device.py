"""The torch (device) path of the corruptions, run on CPU tensors against the CPU path: per-pixel
tolerance for deterministic ones, per-sample distribution tests for random ones."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

import robustness.corruptions as rc
from robustness.api import run_audit
from robustness.corruptions.device import DEVICE_CORRUPTIONS, TOLERANCE, corrupt_on_device
from robustness.data.layout import has_canonical_strides
from robustness.run.config import AuditConfig

RANDOM_PIXELS = ("gaussian_noise", "speckle_noise", "shot_noise", "impulse_noise", "occlusion_patch_noise")


def _batch(n: int, size: int, channels: int, *, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(size * 10 + channels)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    smooth = 0.5 + 0.5 * torch.sin(7 * xx + 4 * yy)
    images = smooth.expand(n, channels, size, size) * torch.rand(n, channels, 1, 1, generator=gen)
    images = images + 0.1 * torch.rand(n, channels, size, size, generator=gen)
    return (lo + (hi - lo) * images.clamp(0, 1)).contiguous()


def test_every_device_corruption_is_registered_and_classified() -> None:
    assert set(DEVICE_CORRUPTIONS) <= set(rc.CORRUPTIONS)
    assert set(TOLERANCE) | set(RANDOM_PIXELS) == set(DEVICE_CORRUPTIONS)
    assert {"gaussian_noise", "gaussian_blur", "defocus_blur", "brightness", "contrast", "gamma"} <= set(DEVICE_CORRUPTIONS)


@pytest.mark.parametrize("size", [40, 72], ids=["small-table", "large-table"])
@pytest.mark.parametrize("channels", [1, 3], ids=["gray", "rgb"])
@pytest.mark.parametrize("name", sorted(TOLERANCE))
def test_deterministic_device_path_matches_cpu_path(name: str, channels: int, size: int) -> None:
    images, ids = _batch(3, size, channels), np.array([3, 8, 21])
    for severity in rc.SEVERITIES:
        cpu = rc.corrupt_batch(name, images, severity, ids, seed=5)
        dev = corrupt_on_device(rc.get(name), images, severity, ids, seed=5)
        assert dev.shape == cpu.shape and has_canonical_strides(dev)
        worst = float((dev - cpu).abs().max())
        assert worst <= TOLERANCE[name], f"{name} severity {severity}: {worst:.2e} > {TOLERANCE[name]:.0e}"


def _ks(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(stats.ks_2samp(a.flatten().numpy(), b.flatten().numpy()).pvalue)


@pytest.mark.parametrize("name", ["gaussian_noise", "speckle_noise", "shot_noise"])
def test_noise_device_path_has_the_cpu_distribution_per_sample(name: str) -> None:
    images, ids = _batch(3, 64, 3, lo=0.3, hi=0.7), np.array([0, 1, 2])
    for severity in (1, 3, 5):
        cpu = rc.corrupt_batch(name, images, severity, ids)
        dev = corrupt_on_device(rc.get(name), images, severity, ids)
        assert not torch.equal(cpu, dev), "a separate stream, so not the same bits"
        for i in range(len(images)):
            assert _ks(cpu[i] - images[i], dev[i] - images[i]) > 1e-4, f"{name} severity {severity} sample {i}"
            assert abs(float((dev[i] - images[i]).std()) / float((cpu[i] - images[i]).std()) - 1) < 0.05
            assert abs(float((dev[i] - images[i]).mean()) - float((cpu[i] - images[i]).mean())) < 0.01


def test_impulse_device_path_flips_the_cpu_fractions() -> None:
    images, ids = _batch(2, 64, 3, lo=0.2, hi=0.8), np.array([4, 9])
    corruption = rc.get("impulse_noise")
    for severity in (1, 5):
        amount = corruption.parameter(severity, (64, 64))
        count = images[0].numel()
        spread = 5 * np.sqrt(count * amount / 2) / count  # five binomial standard deviations
        for out in (rc.corrupt_batch(corruption, images, severity, ids), corrupt_on_device(corruption, images, severity, ids)):
            for i in range(2):
                assert abs(float((out[i] == 0).float().mean()) - amount / 2) < spread
                assert abs(float((out[i] == 1).float().mean()) - amount / 2) < spread
                kept = (out[i] != 0) & (out[i] != 1)
                assert torch.equal(out[i][kept], images[i][kept])


def test_noise_filled_occlusion_covers_the_same_box_with_uniform_noise() -> None:
    images, ids = _batch(2, 48, 3, lo=0.3, hi=0.7), np.array([1, 6])
    cpu = rc.corrupt_batch("occlusion_patch_noise", images, 4, ids)
    dev = corrupt_on_device(rc.get("occlusion_patch_noise"), images, 4, ids)
    for i in range(2):
        assert torch.equal(cpu[i] != images[i], dev[i] != images[i]), "the box comes from the CPU draw"
        box = dev[i][dev[i] != images[i]]
        assert stats.kstest(box.numpy(), "uniform").pvalue > 1e-4


@pytest.mark.parametrize("name", RANDOM_PIXELS)
def test_device_draws_are_keyed_per_sample(name: str) -> None:
    images, ids = _batch(4, 40, 3), np.array([10, 11, 12, 13])
    whole = corrupt_on_device(rc.get(name), images, 3, ids, seed=2)
    assert torch.equal(whole, corrupt_on_device(rc.get(name), images, 3, ids, seed=2))
    split = torch.cat([corrupt_on_device(rc.get(name), images[i : i + 1], 3, ids[i : i + 1], seed=2) for i in range(4)])
    assert torch.equal(whole, split), "a sample's draw does not depend on its batch"
    assert not torch.equal(whole, corrupt_on_device(rc.get(name), images, 3, ids, seed=3))


def test_place_cell_puts_torch_corruptions_on_a_gpu_and_the_rest_on_workers() -> None:
    cuda = torch.device("cuda")  # only named, never touched
    assert rc.place_cell("gaussian_noise", 2, seed=1, device=cuda) == (None, rc.DeviceCorrupter("gaussian_noise", 2, 1, cuda))
    assert rc.place_cell("glass_blur", 2, seed=1, device=cuda) == (rc.BatchCorrupter("glass_blur", 2, 1), None)
    assert rc.place_cell("gaussian_noise", 2, seed=1, device=torch.device("cpu")) == (
        rc.BatchCorrupter("gaussian_noise", 2, 1), None
    )


def test_engine_runs_device_cells_through_the_torch_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, digits_weights: str
) -> None:
    placed: list[str] = []

    def torch_path_on_cpu(name: str, severity: int, *, seed: int, device: torch.device) -> tuple:
        if not rc.has_device_path(name):
            return rc.BatchCorrupter(name, severity, seed), None
        placed.append(name)
        return None, rc.DeviceCorrupter(name, severity, seed, torch.device("cpu"))

    config = AuditConfig(
        n=64, corruptions=("contrast", "gaussian_noise", "glass_blur"), severities=(3,), attacks=("none",),
        sanity=False, batch_size=32, out=str(tmp_path / "cpu"), loader_workers=0,
    )  # fmt: skip
    cpu = run_audit(config).results.set_index("perturbation")["correct"]
    monkeypatch.setattr(rc, "place_cell", torch_path_on_cpu)
    dev = run_audit(replace(config, out=str(tmp_path / "dev"))).results.set_index("perturbation")["correct"]
    assert placed == ["contrast", "gaussian_noise"]
    assert dev["contrast"] == cpu["contrast"] and dev["glass_blur"] == cpu["glass_blur"] and dev["clean"] == cpu["clean"]
    assert abs(int(dev["gaussian_noise"]) - int(cpu["gaussian_noise"])) <= 8, "same noise level, another stream"
