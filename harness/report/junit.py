"""JUnit XML for CI systems: one testcase per board x model x variant x metric.

A regression or a missing gated figure is a <failure>; a job that failed to run
is an <error>, one skipped (e.g. an optional model absent) is <skipped>; every
testcase carries the figure and its threshold.
"""

from __future__ import annotations

from pathlib import Path

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from harness.report.compare import Comparison


def write_junit(path: Path, run_id: str, bench: str, comparisons: list[Comparison],
                failed_jobs: dict[str, str] | None = None,
                skipped_jobs: dict[str, str] | None = None) -> None:
    """Suite: the run; class: ``harness.<bench>.<board>``; name: board/model/variant/metric."""
    suite = TestSuite(f"harness {run_id}")
    for c in comparisons:
        board, model, variant, metric = c.key
        case = TestCase(f"{board}/{model}/{variant}/{metric}", f"harness.{bench}.{board}", 0.0)
        if c.failed:
            case.result = [Failure(c.message, c.status)]
        case.system_out = c.message
        suite.add_testcase(case)
    for jobs, result in ((failed_jobs, Error), (skipped_jobs, Skipped)):
        for job, message in (jobs or {}).items():
            case = TestCase(f"{job}/run", f"harness.{bench}.{job.split('/')[0]}", 0.0)
            case.result = [result(message, "job failed" if result is Error else "job skipped")]
            suite.add_testcase(case)
    suite.update_statistics()
    xml = JUnitXml("harness")
    xml.add_testsuite(suite)
    xml.update_statistics()
    path.parent.mkdir(parents=True, exist_ok=True)
    xml.write(str(path), pretty=True)
