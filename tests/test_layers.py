"""The package tree points one way: every import (lazy ones inside functions included) goes to the same
layer or one below it, and no import cycle exists between modules, lazy or not.

Layers, top to bottom (DESIGN notes in README's Layout section):
cli/api -> compare -> run -> {attacks, defenses, corruptions, models, data} -> results -> reports -> core.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("robustness", "attacks", "reports")

#: (module prefix, rank): a module's layer is the rank of its longest matching prefix; higher is further up
LAYERS: tuple[tuple[str, int], ...] = (
    ("robustness.core", 0),
    ("reports", 1),
    ("robustness.results", 2),
    ("robustness.data", 3),
    ("robustness.models", 3),
    ("robustness.corruptions", 3),
    ("robustness.defenses", 3),
    ("attacks", 3),
    ("robustness.run", 4),
    ("robustness.compare", 5),
    ("robustness.api", 6),
    ("robustness.cli", 6),
    ("robustness.__main__", 6),
    ("robustness", 6),  # the package root only re-exports the API
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def layer(name: str) -> int:
    matches = [(len(prefix), rank) for prefix, rank in LAYERS if name == prefix or name.startswith(prefix + ".")]
    if not matches:
        raise AssertionError(f"module {name} belongs to no layer; add it to LAYERS")
    return max(matches)[1]


def resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The suite's modules ``path`` imports anywhere (top level, functions, TYPE_CHECKING blocks excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):  # `if TYPE_CHECKING:` imports are annotations only, never executed
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = resolve(module, path, node)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                targets = [arg.value]
            elif isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant):
                prefix = str(arg.values[0].value).rstrip(".")  # f"pkg.{name}": any submodule of pkg
                targets = [m for m in known if m.startswith(prefix + ".")]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    modules = all_modules()
    known = set(modules)
    return {name: imports(name, path, known) for name, path in modules.items()}


def test_every_module_has_a_layer() -> None:
    for name in all_modules():
        layer(name)


def test_imports_point_downward_only() -> None:
    upward = [
        f"{src} (layer {layer(src)}) imports {dst} (layer {layer(dst)})"
        for src, targets in graph().items()
        for dst in targets
        if layer(dst) > layer(src) and not dst.startswith(src + ".")  # a package may import its own submodules
    ]
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (iterative DFS, colours white/grey/black)."""
    colour = dict.fromkeys(edges, 0)
    for start in sorted(edges):
        if colour[start]:
            continue
        stack = [(start, iter(sorted(edges[start])))]
        path = [start]
        colour[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour.get(child, 2) == 1:
                return path[path.index(child) :] + [child]
            elif colour.get(child, 2) == 0:
                colour[child] = 1
                stack.append((child, iter(sorted(edges[child]))))
                path.append(child)
    return None


def test_no_import_cycles() -> None:
    edges = graph()
    # a package's __init__ importing its own submodules, and those importing the package's names, is how
    # registries load; such edges are not cycles between rooms. Everything else must be acyclic.
    pruned = {src: {d for d in dst if not src.startswith(d + ".")} for src, dst in edges.items()}
    cycle = find_cycle(pruned)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize(
    ("edges", "cyclic"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, False),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
        ({"a": {"a"}}, True),
    ],
    ids=["chain", "triangle", "self"],
)
def test_cycle_finder_finds_planted_cycles(edges: dict[str, set[str]], cyclic: bool) -> None:
    assert (find_cycle(edges) is not None) is cyclic


def test_layer_check_catches_a_planted_upward_import(tmp_path: Path) -> None:
    fake = ROOT / "robustness" / "core" / "errors.py"
    module = module_name(fake)
    tree_imports = imports(module, fake, set(all_modules()))
    assert all(layer(t) <= layer(module) for t in tree_imports)
    planted = tmp_path / "planted.py"
    planted.write_text("def f():\n    from robustness.run import engine\n    return engine\n", encoding="utf-8")
    found = imports("robustness.core.planted", planted, set(all_modules()))
    assert "robustness.run.engine" in found and layer("robustness.run.engine") > layer("robustness.core.planted")
