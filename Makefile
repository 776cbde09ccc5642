# Fresh machine: `make audit` (set up + run the default audit), `make test` (set up + run the tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is installed first and pinned here so pip takes the build this machine has on disk;
# elsewhere override it, e.g. `make test TORCH_SPEC="torch torchvision"`.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
# the versions CI tested (constraints.txt); `make test CONSTRAINTS=` installs without them,
# e.g. with a TORCH_SPEC whose torch needs other versions of its dependencies
CONSTRAINTS ?= constraints.txt
PIP_C := $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
STAMP := $(VENV)/.installed
export NO_ALBUMENTATIONS_UPDATE := 1

.PHONY: setup audit test bench gpu-check mutation clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(PIP_C) $(TORCH_SPEC)
	$(PY) -m pip install -q $(PIP_C) -e ".[dev]"
	touch $(STAMP)

audit: $(STAMP)
	$(VENV)/bin/robustness audit

test: $(STAMP)
	$(PY) -m pytest

# AutoAttack cross-checks against pyautoattack, full grid (240 digits, 3 budgets, Linf and L2; CI runs one budget per model)
crosscheck: $(STAMP)
	$(PY) -m pytest -m crosscheck tests/test_attacks_autoattack.py

bench: $(STAMP)
	$(PY) -m pip install -q $(PIP_C) -e ".[bench]"
	$(PY) -m pip install -q --no-deps imagecorruptions==1.1.2
	$(PY) benchmarks/bench_corruptions.py
	$(PY) benchmarks/bench_corruption_grid.py
	$(PY) benchmarks/bench_attacks.py
	$(PY) benchmarks/bench_scale.py
	$(PY) benchmarks/bench_defenses.py

# Mutation testing (mutmut 3) of the modules whose numbers people quote; slow, not in CI. Scores: TESTING.md.
# Narrow it with e.g. `make mutation MUTATION_ARGS="statistics losses --minutes 10"`.
MUTATION_ARGS ?=
mutation: $(STAMP)
	nice -n 19 $(PY) tests/mutation.py $(MUTATION_ARGS)

gpu-check: $(STAMP)
	$(PY) benchmarks/gpu_check.py

clean:
	rm -rf robustness-runs .pytest_cache
