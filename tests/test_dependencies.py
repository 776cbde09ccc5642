"""Dependencies declared and bounded (issue 12, item 8): every third-party module the code imports comes
from a declared distribution, internal-API libraries are capped, constraints.txt pins what CI tested."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from robustness.cli.main import main

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

ROOT = Path(__file__).resolve().parents[1]
OWN = {"robustness", "attacks", "reports", "tests", "benchmarks"}
#: libraries whose internal modules the suite imports: capped below their next major version
INTERNAL_API = ("foolbox", "eagerpy", "albumentations", "albucore")


def requirements(*, extras: bool = True, skip: tuple[str, ...] = ()) -> list[Requirement]:
    """The declared requirements: runtime, plus every optional group not in ``skip`` when ``extras``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    if extras:
        groups = {k: v for k, v in project["optional-dependencies"].items() if k not in skip}
        reqs += [Requirement(r) for group in groups.values() for r in group]
    return reqs


def imported_modules() -> dict[str, str]:
    """Top-level module -> a file importing it, over the shipped packages."""
    found: dict[str, str] = {}
    for package in ("robustness", "attacks", "reports"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def test_every_imported_module_is_declared() -> None:
    declared = {canonicalize_name(r.name) for r in requirements()}
    providers = metadata.packages_distributions()
    missing = []
    for module, where in imported_modules().items():
        if module in OWN or module in sys.stdlib_module_names or module == "__future__":
            continue
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if not dists & declared:
            missing.append(f"{module} ({where}; from {', '.join(sorted(dists)) or 'nothing installed'})")
    assert not missing, "imported but not declared in pyproject.toml: " + "; ".join(missing)


def test_internal_api_libraries_are_capped() -> None:
    runtime = {canonicalize_name(r.name): r for r in requirements(extras=False)}
    for name in INTERNAL_API:
        assert any(spec.operator == "<" for spec in runtime[name].specifier), f"{name} should be capped: {runtime[name]}"


def test_constraints_pin_every_declared_requirement_within_its_bounds() -> None:
    lines = (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
    pins = dict(line.split("==", 1) for line in lines if line and not line.startswith("#"))
    pins = {canonicalize_name(k): v for k, v in pins.items()}
    for req in requirements(skip=("bench",)):  # CI installs .[dev]; `make bench` adds the bench peers
        name = canonicalize_name(req.name)
        if name in ("torch", "torchvision"):
            continue  # chosen by TORCH_SPEC
        assert name in pins, f"{name} is declared but constraints.txt does not pin it"
        assert req.specifier.contains(pins[name], prereleases=True), f"constraints.txt pins {name}=={pins[name]} outside {req}"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"CONSTRAINTS \?= constraints\.txt", makefile) and makefile.count("$(PIP_C)") >= 2


def test_version_comes_from_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"robustness {metadata.version('robustness-suite')}"
