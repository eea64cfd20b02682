"""One bench file checked as `harness check` does, as data (for `harness check --json`).

A bench file that does not validate is one error finding naming its file and
field, so every file given gets an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.config.bench import load_bench
from harness.errors import ConfigError
from harness.preflight import check_built, check_setup
from harness.preflight.findings import Finding, PreflightError
from harness.preflight.locate import locate_models


@dataclass(frozen=True)
class BenchCheck:
    path: Path
    findings: list[Finding]
    counts: dict[str, int] | None   # boards, monitors, models, variants; None: did not load

    @property
    def errors(self) -> int:
        return sum(f.level == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.level == "warning" for f in self.findings)


def check_bench_file(path: Path, mlperf_dir: Path, cache_dir: Path, build: bool,
                     boards_dir: Path | None = None) -> BenchCheck:
    try:
        bench = load_bench(path, boards_dir)
        models, located = locate_models(bench, mlperf_dir, cache_dir, build)
        findings = [*check_setup(bench), *located, *check_built(bench, models)]
    except PreflightError as exc:
        return BenchCheck(path, list(exc.findings), None)
    except ConfigError as exc:
        return BenchCheck(path, [Finding("error", exc.path, exc.field, exc.message)], None)
    spec = bench.spec
    return BenchCheck(path, findings, {"boards": len(spec.boards), "monitors": len(spec.monitors),
                                       "models": len(spec.models),
                                       "variants": len(spec.variants)})
