# Two commands do everything on a fresh machine:
#   make demo   install, then train LeNet on the bundled digits and write a run with its plots
#               and its report page
#   make test   install, then run the test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SYSTEM_PACKAGES := graphviz dataset-fashion-mnist chromium chromium-driver postgresql

.PHONY: install system-deps demo test lint format clean

install: system-deps $(STAMP)

# Debian packages (SYSTEM_PACKAGES): Graphviz draws model graphs; dataset-fashion-mnist is real
# data for the tests and presets; chromium and its version-matched chromium-driver open the
# pages zoo writes (report, compare) in the browser tests; postgresql serves `zoo tune
# --storage` in its tests. Installed when we run as root with apt; otherwise we say what to
# install, and the tests that need a missing one are skipped with that reason.
system-deps:
	@missing=""; \
	command -v dot >/dev/null 2>&1 || missing="$$missing graphviz"; \
	[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing="$$missing dataset-fashion-mnist"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	{ command -v pg_ctlcluster || ls /usr/lib/postgresql/*/bin/postgres; } >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian packages:$$missing"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
		|| echo "warning: apt-get could not install$$missing; the tests that need them will be skipped"; \
	else \
		echo "note: install the Debian packages$$missing (sudo apt-get install$$missing) for model graphs, real Fashion-MNIST data, the browser tests and the tuning database"; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "zoo needs Python 3.11 or newer"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,export]'
	touch $(STAMP)

demo: install
	$(BIN)/zoo train --config configs/lenet_digits.yaml --name demo-lenet-digits-$$(date +%Y%m%d-%H%M%S) \
		| tee output/.demo.log
	@run=$$(tail -n 1 output/.demo.log); echo; \
	echo "run directory: $$run"; \
	echo "  curves:           $$run/monitor.png"; \
	echo "  confusion matrix: $$run/confusion_matrix.png"; \
	echo "  metrics:          $$run/metrics.json"; \
	echo "  report:           $$run/report.html (open it in a browser)"

# Two pytest-xdist workers, one test module each at a time (module fixtures are made once):
# on two cores the suite's subprocesses, file writes and start-ups overlap the other's steps.
TEST_WORKERS ?= 2

test: install
	$(BIN)/ruff check zoo tests scripts
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(BIN)/ruff check zoo tests scripts
	$(BIN)/ruff format --check zoo tests scripts

format: install
	$(BIN)/ruff format zoo tests scripts

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
