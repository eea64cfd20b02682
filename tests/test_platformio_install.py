"""A missing PlatformIO platform: installed with the real `pio` when the registry answers,
a fast BoardError with the offline hint when it does not (refused, hanging, failing).

The registry is tests/instruments/pio_registry.py: plain HTTP on loopback for the
probe, and behind an HTTPS proxy under PlatformIO's own host names for `pio`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import BoardError
from harness.firmware.pio_project import build_firmware, project_envs
from harness.firmware.platformio import (
    REGISTRY_ENV,
    REGISTRY_TIMEOUT_S,
    REGISTRY_URLS,
    installed_platforms,
    probe_registry,
    registry_urls,
    require_platform,
)
from tests.instruments.pio_registry import PioRegistry, closed_port_url, make_tls

PATH = "/v3/packages/platformio/platform/nordicnrf52"


def _timed_probe(urls: tuple[str, ...], timeout: float = REGISTRY_TIMEOUT_S):
    started = time.monotonic()
    probe = probe_registry(PATH, urls, timeout)
    return probe, time.monotonic() - started


def test_a_registry_that_answers_is_found_at_once() -> None:
    with PioRegistry({"nordicnrf52": "10.11.0"}) as registry:
        probe, took = _timed_probe((registry.url,))
        assert (probe.url, probe.detail) == (registry.url, "HTTP 200")
        assert took < 1.0 and registry.requests == [f"GET {PATH}"]
        # any answer below 500 counts: the registry is there, pio will say what it lacks
        assert probe_registry("/v3/packages/platformio/platform/nope", (registry.url,)).detail \
            == "HTTP 404"
        # a dead mirror does not matter when another answers
        dead = closed_port_url()
        assert _timed_probe((dead, registry.url))[0].url == registry.url


def test_a_refused_registry_fails_at_once_a_hanging_one_at_the_timeout() -> None:
    dead = closed_port_url()
    probe, took = _timed_probe((dead,))
    assert probe.url is None and "Connection refused" in probe.detail and took < 1.0
    with PioRegistry({}, mode="hang") as registry:
        probe, took = _timed_probe((registry.url, dead), timeout=1.0)
    assert probe.url is None and 1.0 <= took < 2.0
    assert probe.detail == f"{registry.url}: no answer within 1 s; {dead}: [Errno 111] " \
                           "Connection refused"


def test_a_failing_registry_counts_as_not_answering() -> None:
    with PioRegistry({"nordicnrf52": "10.11.0"}, mode="error") as registry:
        probe, _ = _timed_probe((registry.url,))
    assert probe.url is None and probe.detail == f"{registry.url}: HTTP 503"


def test_the_registry_urls_are_platformios_unless_overridden(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REGISTRY_ENV)
    assert registry_urls() == REGISTRY_URLS
    assert all(u.startswith("https://api.registry.") for u in REGISTRY_URLS)
    monkeypatch.setenv(REGISTRY_ENV, " http://a:1/, http://b:2 ")
    assert registry_urls() == ("http://a:1", "http://b:2")


def test_probing_the_real_registry_takes_at_most_the_timeout() -> None:
    """Whatever this machine's network does (here: no route, no DNS), it is bounded."""
    probe, took = _timed_probe(REGISTRY_URLS)
    assert took < REGISTRY_TIMEOUT_S + 0.5, probe


@pytest.mark.parametrize("mode", ["refused", "hang"])
def test_build_offline_fails_within_seconds_with_the_hint(
        mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORMIO_CORE_DIR", str(tmp_path / "core"))
    with PioRegistry({}, mode="hang") as hanging:
        monkeypatch.setenv(REGISTRY_ENV, hanging.url if mode == "hang" else closed_port_url())
        started = time.monotonic()
        with pytest.raises(BoardError) as failed:
            build_firmware("nano33ble", tmp_path / "not-read.tflite")
        took = time.monotonic() - started
    assert took < REGISTRY_TIMEOUT_S + 1.5
    message = str(failed.value)
    assert f"did not answer within {REGISTRY_TIMEOUT_S:g} s" in message
    assert ("no answer within" if mode == "hang" else "Connection refused") in message
    assert "pio pkg install -g -p nordicnrf52@10.11.0" in message


@pytest.fixture
def online(tmp_path_factory: pytest.TempPathFactory,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[PioRegistry, Path]]:
    """PlatformIO's registry host names reach the test registry through an HTTPS proxy,
    as in a lab behind a TLS-inspecting proxy; the core folder is empty."""
    tls = make_tls(tmp_path_factory.mktemp("tls"))
    core = tmp_path_factory.mktemp("core")
    with PioRegistry({"nordicnrf52": "10.11.0", "espressif32": "6.13.0"}, tls) as registry:
        monkeypatch.delenv(REGISTRY_ENV)  # PlatformIO's own URLs
        for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
            monkeypatch.setenv(var, registry.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls[0]))
        monkeypatch.setenv("PLATFORMIO_CORE_DIR", str(core))
        monkeypatch.setenv("PLATFORMIO_SETTING_ENABLE_TELEMETRY", "No")
        yield registry, core


def test_a_missing_platform_is_installed_by_pio_with_its_progress(
        online: tuple[PioRegistry, Path], capfd: pytest.CaptureFixture[str]) -> None:
    registry, core = online
    env = project_envs()["nano33ble"]
    require_platform(env)
    assert installed_platforms(core) == {"nordicnrf52": {"10.11.0"}}
    out, err = capfd.readouterr()
    # pio's own progress, on stderr: stdout stays the command's
    assert "Installing nordicnrf52 @ 10.11.0" in err and "has been installed" in err
    assert "Installing" not in out
    assert registry.requests[0] == f"GET {PATH}"  # the probe, then pio
    assert any(r.startswith("GET /file/nordicnrf52") for r in registry.requests)
    asked = len(registry.requests)
    require_platform(env)  # installed now: neither probe nor pio
    assert len(registry.requests) == asked


def test_a_platform_at_another_version_gets_the_pinned_one(
        online: tuple[PioRegistry, Path]) -> None:
    _, core = online
    old = core / "platforms" / "espressif32"
    old.mkdir(parents=True)
    (old / "platform.json").write_text('{"name": "espressif32", "version": "6.12.0"}')
    require_platform(project_envs()["esp32dev"])
    assert "6.13.0" in installed_platforms(core)["espressif32"]


def test_a_registry_without_the_package_makes_pio_fail_and_that_is_said(
        online: tuple[PioRegistry, Path]) -> None:
    registry, _ = online
    with pytest.raises(BoardError, match=r"installing ststm32@19\.6\.0 for nucleo_l4r5zi "
                                         r"failed \(exit 1; pio's output is above\)"):
        require_platform(project_envs()["nucleo_l4r5zi"])
    assert registry.requests[0] == "GET /v3/packages/platformio/platform/ststm32"  # HTTP 404
