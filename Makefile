# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is installed pinned, before the project, so pip never reaches for a CUDA bundle on a
# CPU-only machine; torchvision is pinned to the matching release for the same reason.
TORCH_PINS ?= torch==2.13.0 torchvision==0.28.0
STAMP := $(VENV)/.faceanon-installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PINS)
	$(PY) -m pip install --quiet -e '.[dev]' $(TORCH_PINS)
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/faceanon image samples/portrait.png samples/group.png -o out/demo \
		--report out/demo/images-report.json
	$(VENV)/bin/faceanon video samples/clip.mp4 -o out/demo/clip.mp4 \
		--report out/demo/clip-report.json
	@echo "faceanon demo: anonymized images, video and reports are in $(CURDIR)/out/demo/"

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(VENV)/bin/faceanon bench

clean:
	rm -rf out .pytest_cache .ruff_cache
