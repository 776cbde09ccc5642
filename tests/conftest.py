"""Shared fixtures: an isolated model cache, a trained default model, tiny audits."""

from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ["ROBUSTNESS_PROGRESS"] = "0"

import pytest  # noqa: E402
import torch  # noqa: E402

# two threads (CI's cores), unless the environment sets them: tests/mutation.py runs with one, since the
# forked per-mutant runs hang in a thread pool inherited across fork()
if "OMP_NUM_THREADS" not in os.environ:
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Trained weights go to a per-session cache (or ``ROBUSTNESS_TEST_CACHE``), never to the user's home."""
    path = os.environ.get("ROBUSTNESS_TEST_CACHE") or str(tmp_path_factory.mktemp("model-cache"))
    os.environ["ROBUSTNESS_CACHE"] = path
    return path


@pytest.fixture(scope="session")
def digits_weights(model_cache: str) -> str:
    """The default small CNN trained on digits with the default recipe (cached for the session)."""
    from robustness.models import ensure_trained

    return ensure_trained("small-cnn", "digits", seed=0)
