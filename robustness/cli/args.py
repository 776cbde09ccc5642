"""Argument parsing shared by every command: the parser that turns bad input into one line, value parsers,
and the model, data and defense argument groups."""

from __future__ import annotations

import argparse
from fractions import Fraction
from typing import NoReturn

from robustness.compare.contenders import parse_params
from robustness.core.errors import UsageError

#: kept in step with the registry by a test; the CLI parser does not import torch to build its help
DEFENSE_NAMES = "pgd-at, trades, fgsm-rs, augment, smoothing, standard (trained); jpeg, bit-depth, median-filter (wrap)"


class Parser(argparse.ArgumentParser):
    """argparse, but bad input is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(one_line(f"{self.prog}: {message} (see {self.prog} --help)"))


def one_line(text: str) -> str:
    """Collapse any whitespace (newlines in user input included) so an error stays on one line."""
    return " ".join(text.split())


def parse_floats(text: str) -> tuple[float, ...]:
    """``0.03,8/255`` -> (0.03, 0.0313...)."""
    try:
        return tuple(float(Fraction(t.strip())) for t in text.split(",") if t.strip())
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected numbers like 0.03,8/255, got {text!r}") from None


def parse_severities(text: str) -> tuple[int, ...]:
    """``1-5`` or ``1,3,5``: :func:`robustness.corruptions.parse_severities` (range-checked, sorted), for argparse."""
    from robustness.corruptions import parse_severities as parse

    try:
        return tuple(parse(text))
    except UsageError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def parse_names(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", help="small-cnn, resnet-small, torchvision:ARCH, timm:NAME, package.module:Class, or a TorchScript file")
    g.add_argument("--weights", help="state_dict file (loaded with weights_only=True)")
    g.add_argument("--num-classes", type=positive_int)
    g.add_argument("--mean", type=parse_floats, help="per-channel normalization mean, e.g. 0.485,0.456,0.406")
    g.add_argument("--std", type=parse_floats, help="per-channel normalization std")
    g.add_argument("--pretrained", action="store_true", default=None, help="torchvision's or timm's published weights (from the local cache; --download to fetch)")
    g.add_argument("--unsafe-load", action="store_true", default=None, help="allow checkpoints that need pickle code (trusted files only)")
    g.add_argument(
        "--random-weights", action="store_true", default=None,
        help="audit a non-built-in architecture without trained weights, on purpose (timing runs)",
    )  # fmt: skip


def add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", help="digits, shapes, cifar10, cifar100, mnist, fashionmnist, svhn, or an image folder")
    g.add_argument("--data-root", help="where torchvision datasets live")
    g.add_argument("--download", action="store_true", default=None, help="allow downloading datasets or weights")
    g.add_argument("--seed", type=int)


def add_defense_args(parser: argparse.ArgumentParser, *, evaluation: bool = False) -> None:
    """``--defense NAME --defense-params K=V,...`` (and ``--defense-eval`` for audits)."""
    g = parser.add_argument_group("defense")
    g.add_argument("--defense", help=DEFENSE_NAMES)
    g.add_argument("--defense-params", type=parse_params, help="hyperparameters, e.g. epsilon=0.1,steps=5")
    if evaluation:
        g.add_argument(
            "--defense-eval",
            choices=("adaptive", "naive"),
            help="how attacks see a transform defense (default adaptive)",
        )
