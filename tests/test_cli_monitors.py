"""`harness monitors` lists an emulated SCPI instrument found through pyvisa."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from harness.cli import main
from tests.instruments.scpi_server import IDN, ScpiServer
from tests.instruments.waveform import Waveform

pytest.importorskip("pyvisa_py")


def test_monitors_lists_a_connected_instrument_with_its_resource(monkeypatch):
    with ScpiServer("n6705c", Waveform()) as server:
        monkeypatch.setenv("HARNESS_VISA_BACKEND", "@py")
        monkeypatch.setenv("HARNESS_VISA_RESOURCES", server.resource)
        result = CliRunner().invoke(main, ["monitors"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if server.resource in line)
    assert "scpi-n6705c" in line
    assert IDN["n6705c"].split(",")[1] in result.output  # the *IDN? answer, maybe wrapped

