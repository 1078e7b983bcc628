# mixup-repro: `make reproduce` reruns every notebook (cpu profile) and builds the book;
# `make test` runs the test suite. Each target creates or updates .venv by itself.

PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: reproduce test book smoke

# Reinstall when the declared dependencies or the pinned versions change.
$(STAMP): pyproject.toml requirements/lock.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -c requirements/lock.txt -e ".[dev]"
	touch $@

reproduce: $(STAMP)
	$(VENV)/bin/mixup-repro reproduce --profile cpu

# pytest exits 5 when it collects nothing: that is a failure too, with a message.
test: $(STAMP)
	@$(VENV)/bin/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests; failing" >&2; fi; exit $$rc

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

smoke: $(STAMP)
	$(VENV)/bin/mixup-repro reproduce --profile smoke --no-book
