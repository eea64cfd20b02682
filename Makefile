# One-command set-up, test and demo. See README.md.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
APT_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm chromium ser2net postgresql

.PHONY: setup apt venv test lint demo clean

setup: apt venv

# Debian packages for the emulated board (firmware in QEMU), the report test, and the farm
# tests (ser2net under labgrid's exporter; a PostgreSQL server for the shared history).
apt:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
		if [ -n "$$missing" ]; then \
			echo "installing Debian packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
		fi; \
	else \
		echo "NOTE: cannot run apt-get here; install these Debian packages yourself for the emulated board and report tests:"; \
		echo "      sudo apt-get install $(APT_PACKAGES)"; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all]'
	touch $@

test: venv
	$(PY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check harness tests benchmarks
	$(VENV)/bin/mypy

demo: venv
	$(VENV)/bin/harness run examples/sim-bench.yaml

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
