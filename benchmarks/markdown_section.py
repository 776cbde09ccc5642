"""Replace one ``## Section`` of BENCHMARKS.md, keeping the others (each benchmark owns one)."""

from __future__ import annotations

import re
from pathlib import Path

HEADER = "# Benchmarks\n\nSpeed and memory of the suite measured side by side with peers on this machine.\n"


def replace_section(path: Path, title: str, body: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    block = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: block + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + block
    path.write_text(text, encoding="utf-8")
