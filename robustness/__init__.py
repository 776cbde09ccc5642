"""robustness-suite: robustness and adversarial evaluation for PyTorch image classifiers.

The package root only re-exports the API (``audit``, ``AuditConfig``), lazily; the rooms below import
downward only (README's Layout).

>>> import robustness
>>> # skipped in the doctest run: trains the default model on first use and runs the whole grid (minutes)
>>> df = robustness.audit(n=128)  # doctest: +SKIP

The heavy modules (torch, albumentations, foolbox) load on first use, so that
``robustness.results.store`` and ``reports`` stay importable without them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"

if TYPE_CHECKING:
    from robustness.api import audit, explain
    from robustness.run.config import AuditConfig

__all__ = ["AuditConfig", "__version__", "audit", "explain"]


def __getattr__(name: str) -> Any:
    if name == "audit":
        from robustness.api import audit

        return audit
    if name == "explain":
        from robustness.api import explain

        return explain
    if name == "AuditConfig":
        from robustness.run.config import AuditConfig

        return AuditConfig
    raise AttributeError(f"module 'robustness' has no attribute {name!r}")
