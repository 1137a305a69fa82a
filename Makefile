# fvreplay: `make run` runs the engine on the demo venue, `make test` runs the tests.
# Both create .venv and install the project on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build of torch; a GPU machine may set TORCH_SPEC="torch" to take the CUDA build.
TORCH_SPEC ?= torch==2.13.0
PROFILE ?= demo
PACKAGES := plugin io_adapters control timing profiles

.PHONY: setup run test bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $@

# NDI=loopback (default) keeps NDI on this machine: no mDNS or multicast, receivers connect by the address
# `fvreplay run` prints. NDI=network publishes to the LAN with discovery, as a show would.
NDI ?= loopback
NDI_ENV = $(if $(filter loopback,$(NDI)),NDI_CONFIG_DIR=$$($(BIN)/python -m io_adapters.ndi.loopback .fvreplay-cache/ndi-loopback),)

run: setup
	$(NDI_ENV) $(BIN)/fvreplay run --profile $(PROFILE) $(ARGS)

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(BIN)/fvreplay bench timing --seconds 10
	$(BIN)/fvreplay bench engine
	$(BIN)/fvreplay bench sim
	$(BIN)/fvreplay bench ndi --seconds 3
	$(BIN)/fvreplay bench control
	$(BIN)/fvreplay bench rest
	$(BIN)/fvreplay bench render

lint: setup
	$(BIN)/ruff check $(PACKAGES) tests tools
	$(BIN)/mypy $(PACKAGES)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
