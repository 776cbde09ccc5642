"""Progress bars on a terminal, silence in pipes and tests."""

from __future__ import annotations

import os
import sys
from typing import Any

from tqdm.auto import tqdm


def enabled() -> bool:
    """Bars show only on an interactive stderr; ``ROBUSTNESS_PROGRESS=0/1`` forces the choice."""
    forced = os.environ.get("ROBUSTNESS_PROGRESS")
    if forced is not None:
        return forced not in ("0", "", "false", "no")
    return sys.stderr.isatty()


def progress_bar(**kwargs: Any) -> tqdm:
    return tqdm(disable=not enabled(), leave=False, dynamic_ncols=True, **kwargs)
