"""Where the MLPerf Tiny models are looked for."""

from __future__ import annotations

from pathlib import Path

from harness.models.mlperf_tiny import MLPERF_TINY_ENV, MLPERF_TINY_HINT, mlperf_tiny_dir


def test_default_is_shared_mlperf_tiny_beside_the_project(monkeypatch) -> None:
    monkeypatch.delenv(MLPERF_TINY_ENV, raising=False)
    folder = mlperf_tiny_dir()
    assert folder.parts[-2:] == ("shared", "mlperf_tiny")
    assert (folder.parents[1] / Path(__file__).resolve().parents[1].name
            / "pyproject.toml").is_file()


def test_environment_variable_overrides(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(MLPERF_TINY_ENV, str(tmp_path))
    assert mlperf_tiny_dir() == tmp_path


def test_hint_says_where_to_get_them() -> None:
    assert "github.com/mlcommons/tiny" in MLPERF_TINY_HINT
    assert MLPERF_TINY_ENV in MLPERF_TINY_HINT
