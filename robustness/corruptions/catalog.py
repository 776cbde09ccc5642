"""The severity tables as Markdown, the generated part of CORRUPTIONS.md.

``python -m robustness.corruptions.catalog --write CORRUPTIONS.md`` rewrites the part of
the file between the markers; a test checks that the file is current.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from robustness.corruptions import describe, families, get
from robustness.corruptions.base import HENDRYCKS
from robustness.corruptions.device import DEVICE_CORRUPTIONS, TOLERANCE

BEGIN = "<!-- BEGIN GENERATED TABLES: python -m robustness.corruptions.catalog --write CORRUPTIONS.md -->"
END = "<!-- END GENERATED TABLES -->"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_cell(v) for v in value) + ")"
    return str(value)


def markdown_tables() -> str:
    """One table per family: every corruption's parameter per severity, small and large images."""
    lines: list[str] = []
    for family, names in families().items():
        lines += [f"### {family}", "", "| corruption | split | images | 1 | 2 | 3 | 4 | 5 |", "|---" * 8 + "|"]
        for name in names:
            corruption = get(name)
            split = corruption.imagenet_c or "extra"
            small_label = "<= 64 px (CIFAR-10-C)" if corruption.source == HENDRYCKS else "<= 64 px"
            large_label = "> 64 px (ImageNet-C)" if corruption.source == HENDRYCKS else "> 64 px"
            small = " | ".join(_cell(v) for v in corruption.table_small)
            large = " | ".join(_cell(v) for v in corruption.table_large)
            lines.append(f"| `{name}` | {split} | {small_label} | {small} |")
            lines.append(f"| | | {large_label} | {large} |")
        lines.append("")
        for info in describe(names):
            lines.append(
                f"- `{info.name}`: parameter = {info.parameter}. Source: {info.source}. "
                f"Implementation: {info.implementation}."
            )
        lines.append("")
    return "\n".join(lines + device_table()).rstrip() + "\n"


def device_table() -> list[str]:
    """The corruptions with a batched torch implementation (``--device cuda``) and how they match the CPU path."""
    lines = [
        "### device path (`--device cuda`)",
        "",
        "These run as batched torch operations on the GPU; the others stay on the CPU loader workers. "
        "Tests run the torch code on CPU tensors against the CPU path.",
        "",
        "| corruption | agreement with the CPU path |",
        "|---|---|",
    ]
    for family in families().values():
        for name in family:
            if name in TOLERANCE:
                lines.append(f"| `{name}` | within {TOLERANCE[name]:g} per pixel (pixel range 1) |")
            elif name in DEVICE_CORRUPTIONS:
                lines.append(f"| `{name}` | same distribution per sample, from a torch generator seeded per sample |")
    return [*lines, ""]


def generated_section() -> str:
    return f"{BEGIN}\n\n{markdown_tables()}\n{END}"


def write(path: Path) -> None:
    """Replace the generated section of ``path`` (appending it when the markers are absent)."""
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + generated_section() + tail
    else:
        text = text.rstrip() + ("\n\n" if text else "") + generated_section() + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="update the generated section of this Markdown file")
    args = parser.parse_args(argv)
    if args.write:
        write(args.write)
    else:
        sys.stdout.write(markdown_tables())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
