"""End-to-end check of the CUDA path: a short audit on the GPU, compared with the CPU.

Run with ``make gpu-check`` on a machine with a CUDA device. It trains (or loads) the default
model, runs a small grid (corruptions and attacks) with ``--device cuda`` and with
``--device cpu``, and checks that clean and corruption results agree exactly and attack
results agree within a few samples (GPU kernels are not bit-identical to CPU ones, so a
borderline prediction may flip).
Exits 1 on a mismatch, 0 on success; prints timings.
"""

from __future__ import annotations

import sys
import tempfile
import time

import torch

from robustness.api import run_audit
from robustness.run.config import AuditConfig

GRID = {
    "n": 540,
    "corruptions": ("benchmark",),
    "severities": (1, 3, 5),
    "attacks": ("fgsm", "pgd_linf", "deepfool_linf", "pgd_l2", "deepfool_l2"),
    "batch_size": 270,
}


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu-check: no CUDA device here; nothing to check.")
        return 1
    print(f"gpu-check: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for device in ("cuda", "cpu"):
            start = time.perf_counter()
            outcome = run_audit(AuditConfig(device=device, out=f"{tmp}/{device}", **GRID))  # type: ignore[arg-type]
            results[device] = outcome.results.set_index("cell")
            print(f"  {device}: {len(outcome.results)} cells in {time.perf_counter() - start:.1f} s")
    gpu, cpu = results["cuda"], results["cpu"]
    non_attack = gpu["kind"] != "attack"
    exact = (gpu.loc[non_attack, "correct"] - cpu.loc[non_attack, "correct"]).abs().max() <= 2
    attack_gap = (gpu.loc[~non_attack, "correct"] - cpu.loc[~non_attack, "correct"]).abs().max()
    clean = gpu.loc["clean", "accuracy"]
    honest = (gpu.loc[~non_attack, "accuracy"] <= clean).all()
    print(f"  clean/corruption cells within 2 samples: {bool(exact)}; largest attack-cell gap: {int(attack_gap)} samples")
    ok = bool(exact) and attack_gap <= 5 and bool(honest)
    print("gpu-check: OK" if ok else "gpu-check: MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
