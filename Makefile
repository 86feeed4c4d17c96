PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
# The distribution was called llm-mock before it became llm-mock-server; an old editable install
# beside the new one would register the pytest plugin twice, so it goes first.
DROP_OLD_NAME = $(VPY) -m pip show -q llm-mock >/dev/null 2>&1 && $(VPY) -m pip uninstall -q -y llm-mock || true

.PHONY: run test lint typecheck bench fuzz clean

run: $(VENV)/.runtime
	$(VPY) -m llm_mock start --config llm_mock/demo/config.json

$(VPY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: $(VPY) pyproject.toml
	$(DROP_OLD_NAME)
	$(VPY) -m pip install -q -e .
	touch $@

# the test extra (SDKs, pytest) and the dev extra (ruff, mypy)
$(VENV)/.installed: $(VPY) pyproject.toml
	$(VPY) -m pip install -q --upgrade pip
	$(DROP_OLD_NAME)
	$(VPY) -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.runtime

test: $(VENV)/.installed
	$(VPY) -m pytest -q

lint: $(VENV)/.installed
	$(VPY) -m ruff check llm_mock tests bench

typecheck: $(VENV)/.installed
	$(VPY) -m mypy llm_mock

# BENCH_ARGS: e.g. --quick, --peers none, --json out.json (bench/run.py --help)
bench:
	$(PYTHON) bench/run.py $(BENCH_ARGS)

fuzz: $(VENV)/.installed
	LLM_MOCK_FUZZ_ITERATIONS=50000 $(VPY) -m pytest -q $$(find tests -name test_fuzz.py)

clean:
	rm -rf $(VENV) .venv-sdk-old build *.egg-info .mypy_cache .ruff_cache
