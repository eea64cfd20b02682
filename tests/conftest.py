"""Shared fixtures: a session-wide model cache so the digits CNN is trained once, and no
test reaching PlatformIO's registry by accident; the options of the hardware suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.firmware.platformio import REGISTRY_ENV
from harness.models.mlperf_tiny import MLPERF_TINY_HINT, mlperf_tiny_dir
from tests.instruments.pio_registry import closed_port_url


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hardware", "the hardware suite (tests/hardware/, docs/firmware.md)")
    group.addoption("--hardware-port", metavar="PORT", default=None,
                    help="run tests/hardware against the board on PORT (a device or any "
                         "pyserial URL, e.g. /dev/ttyACM0, socket://127.0.0.1:4000)")
    group.addoption("--board", metavar="BOARD_ID", default=None,
                    help="the board on --hardware-port: a boards/<BOARD_ID>.yaml")
    group.addoption("--hardware-model", metavar="PATH", default=None,
                    help="the .tflite the board runs (its outputs are checked against the TFLM "
                         "host runtime); without it a board running a model is checked for "
                         "protocol and timing only")


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory) -> Path:
    """HARNESS_CACHE_DIR for the whole session (kept if the caller set one, e.g. CI)."""
    if "HARNESS_CACHE_DIR" not in os.environ:
        os.environ["HARNESS_CACHE_DIR"] = str(tmp_path_factory.mktemp("model-cache"))
    return Path(os.environ["HARNESS_CACHE_DIR"])


@pytest.fixture(scope="session", autouse=True)
def state_dir(tmp_path_factory) -> Path:
    """HARNESS_STATE_DIR (labgrid place leases) for the whole session, never the user's."""
    os.environ["HARNESS_STATE_DIR"] = str(tmp_path_factory.mktemp("harness-state"))
    return Path(os.environ["HARNESS_STATE_DIR"])


@pytest.fixture(scope="session", autouse=True)
def offline_pio_registry() -> str:
    """PlatformIO's registry, for every test: a refused port. On an online machine a build
    would otherwise install platforms where tests expect the offline hint; the tests of
    the install path serve their own registry (tests/instruments/pio_registry.py)."""
    os.environ.setdefault(REGISTRY_ENV, closed_port_url())
    return os.environ[REGISTRY_ENV]


@pytest.fixture(scope="session")
def mlperf_dir() -> Path:
    folder = mlperf_tiny_dir()
    if not (folder / "ic01_int8.tflite").is_file():
        pytest.skip(f"MLPerf Tiny models not found in {folder}. {MLPERF_TINY_HINT}")
    return folder
