PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python

.PHONY: run test bench fuzz clean

run: $(VENV)/.runtime
	$(VPY) -m llm_mock start --config llm_mock/demo/config.json

$(VPY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: $(VPY) pyproject.toml
	$(VPY) -m pip install -q -e .
	touch $@

$(VENV)/.installed: $(VPY) pyproject.toml
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[test]'
	touch $@

test: $(VENV)/.installed
	$(VPY) -m pytest -q

bench:
	$(PYTHON) bench/run.py

fuzz: $(VENV)/.installed
	LLM_MOCK_FUZZ_ITERATIONS=50000 $(VPY) -m pytest -q tests/test_fuzz.py

clean:
	rm -rf $(VENV) .venv-sdk-old build *.egg-info
