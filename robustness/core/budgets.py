"""Default attack budgets per norm and the default attacks: defined here once; the attack suite, the audit
configuration and the CLI read them (this module imports nothing, so the CLI stays light).

Pixel units of the [0, 1] image range (8/255 is 8/255 of the pixel range).
"""

from __future__ import annotations

#: L-infinity budgets of the default audit grid
DEFAULT_EPS_LINF: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.3)
#: L2 budgets of the default audit grid
DEFAULT_EPS_L2: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0)
#: the default attacks (the embedded audit's, ``--attacks default``, :func:`attacks.evaluate`'s): single-step
#: FGSM (the curve's floor), APGD-CE, APGD-T with 3 targets and a short FAB-T on what is left (``apgd_lite_*``:
#: within 1.5 points of AutoAttack standard, tests/test_attacks_autoattack.py and BENCHMARKS.md "AutoAttack") and
#: DeepFool for the minimal distances; ``--attacks autoattack`` is the yardstick
DEFAULT_ATTACKS: tuple[str, ...] = ("fgsm", "apgd_lite_linf", "deepfool_linf", "apgd_lite_l2", "deepfool_l2")

__all__ = ["DEFAULT_ATTACKS", "DEFAULT_EPS_L2", "DEFAULT_EPS_LINF"]
