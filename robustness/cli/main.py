"""The ``robustness`` command line: one parser, one module per command (audit, compare, list, report, train,
export-c); bad input is one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

from robustness.cli import audit, commands, compare
from robustness.cli.args import Parser, one_line
from robustness.core.errors import UsageError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "export-c": commands.cmd_export_c,
    "audit": audit.cmd_audit,
    "list": commands.cmd_list,
    "report": commands.cmd_report,
    "train": commands.cmd_train,
    "compare": compare.cmd_compare,
}


def suite_version() -> str:
    """The installed robustness-suite's version, from its package metadata."""
    try:
        return metadata.version("robustness-suite")
    except metadata.PackageNotFoundError:
        return "unknown (not installed; pip install -e .)"


def build_parser() -> Parser:
    parser = Parser(prog="robustness", description="Robustness and adversarial evaluation of image classifiers.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {suite_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress messages")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    audit.add_audit_parser(sub)
    commands.add_parsers(sub)
    compare.add_compare_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
        return COMMANDS[args.command](args)
    except UsageError as err:
        print(f"robustness: error: {one_line(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("robustness: interrupted; finished cells are saved in the store, re-run the same command to resume.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `robustness list runs | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit-time flush does not fail again
        return 141  # what a shell reports for SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
