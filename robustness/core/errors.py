"""Errors the suite raises for bad input.

Every user-facing failure is a :class:`UsageError`: the CLI prints its message on one
line and exits with status 2. The message names the argument, what was expected, what was
received and what to do.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UsageError(ValueError):
    """Bad input from the user: reported as one line, exit code 2."""


def unknown_name(kind: str, name: str, available: Iterable[str]) -> UsageError:
    """Build the error for a name missing from a registry, with suggestions."""
    names = sorted(available)
    close = difflib.get_close_matches(name, names, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return UsageError(f"Unknown {kind} {name!r}.{hint} Available: {', '.join(names)}.")
