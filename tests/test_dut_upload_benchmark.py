"""The upload benchmark runs, its EEMBC peer parses `db` commands, and the goals hold."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "upload_throughput.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("upload_throughput", BENCH_PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module     # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_eembc_responder_follows_the_db_commands(bench) -> None:
    peer = bench.EembcResponder()
    assert peer.boot().endswith(b"m-ready\r\n")
    assert peer.feed(b"db load 4%") == b"m-[Expecting 4 bytes]\r\nm-ready\r\n"
    assert peer.feed(b"db 0a00%db ") == b"m-ready\r\n"          # split across reads
    assert peer.feed(b"ff7f%") == b"m-load-done\r\nm-ready\r\n"
    assert bytes(peer.buffer) == b"\x0a\x00\xff\x7f"
    assert peer.feed(b"db zz%").startswith(b"e-[Invalid hex]")
    assert peer.feed(b"name%").startswith(b"e-[Unknown command 'name']")


def test_binary_upload_beats_eembc_by_the_goals(bench) -> None:
    data = bytes(range(256)) * 108
    binary, eembc = bench.binary_upload(data), bench.eembc_upload(data)
    assert (binary.round_trips, eembc.round_trips) == (8, 1 + 892)
    assert eembc.round_trips / binary.round_trips >= 20
    assert binary.efficiency >= 0.90 > eembc.efficiency
    assert "| binary DUT protocol | 8 |" in bench.markdown([binary, eembc], repeats=1)
