"""Default attack budgets per norm: defined here once; the attack suite and the audit configuration read them.

Pixel units of the [0, 1] image range (8/255 is 8/255 of the pixel range).
"""

from __future__ import annotations

#: L-infinity budgets of the default audit grid
DEFAULT_EPS_LINF: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.3)
#: L2 budgets of the default audit grid
DEFAULT_EPS_L2: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0)

__all__ = ["DEFAULT_EPS_L2", "DEFAULT_EPS_LINF"]
