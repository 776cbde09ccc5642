"""Report modules over MAX_LINES lines and functions over MAX_FUNCTION lines (issue 13: files of a few hundred
lines, functions of about 60). ``python .ci/sizes.py`` prints them; ``--strict`` exits 1 when any remain."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("robustness", "attacks", "reports")
MAX_LINES = 400
MAX_FUNCTION = 60


def oversized() -> list[str]:
    out = []
    for path in sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT).as_posix()
        lines = text.count("\n")
        if lines > MAX_LINES:
            out.append(f"{name}: {lines} lines (module)")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION:
                    out.append(f"{name}:{node.lineno}: {node.name} {length} lines (function)")
    return out


if __name__ == "__main__":
    found = oversized()
    print("\n".join(found) or f"no module over {MAX_LINES} lines, no function over {MAX_FUNCTION}")
    sys.exit(1 if found and "--strict" in sys.argv else 0)
