# mixup-repro: `make reproduce` reruns every notebook (cpu profile) and builds the book; `make test` runs the test
# suite. Each gets what it needs by itself, in this order: from the system (Fashion-MNIST, and Chromium for the
# tests: apt-get as root or with `sudo -n`, else a download; `mixup_repro.doctor`, run with the system Python before
# anything is installed, so that a machine that cannot get them stops at once), then .venv (pip's output goes to
# _build/logs/pip-install.log), then what needed the install (torchvision's download).

PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed
LOGS   := _build/logs
PIP_LOG := $(LOGS)/pip-install.log
PYTEST_ARGS ?=
# The doctor before the install: the system Python, the package's source, only the standard library.
DOCTOR_FIRST := PYTHONPATH=src $(PYTHON) -m mixup_repro.doctor

.PHONY: reproduce test book smoke venv

# Reinstall when the declared dependencies or the pinned versions change.
$(STAMP): pyproject.toml requirements/lock.txt
	@mkdir -p $(LOGS)
	@echo "make: installing the Python stack into $(VENV) (the first time takes minutes and gigabytes; pip's output: $(PIP_LOG))"
	@start=$$(date +%s); \
	{ $(PYTHON) -m venv $(VENV) && $(VENV)/bin/pip install --progress-bar off -c requirements/lock.txt -e ".[dev]"; } \
	  > $(PIP_LOG) 2>&1 || { cat $(PIP_LOG); echo "make: pip failed; its output is above and in $(PIP_LOG)" >&2; exit 1; }; \
	echo "make: $(VENV) installed in $$(( $$(date +%s) - start )) s"
	@touch $@

venv: $(STAMP)
	@:

reproduce:
	@$(DOCTOR_FIRST) --need data
	@$(MAKE) --no-print-directory venv
	@$(VENV)/bin/mixup-repro doctor --need data
	@$(VENV)/bin/mixup-repro reproduce --profile cpu

# pytest exits 5 when it collects nothing: that is a failure too, with a message.
test:
	@$(DOCTOR_FIRST) --need data --need browser
	@$(MAKE) --no-print-directory venv
	@$(VENV)/bin/mixup-repro doctor --need data --need browser
	@$(VENV)/bin/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests; failing" >&2; fi; exit $$rc

book: venv
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

smoke: venv
	$(VENV)/bin/mixup-repro reproduce --profile smoke --no-book
