"""The HTML report of a real (small) simulated run, opened in headless Chromium as a person would.

One session-scoped run pair: a first run, then a second gated against it with
--junit, so the history holds two runs and the report draws the trend figure.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from junitparser import JUnitXml

from harness.cli import main
from harness.results.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "results" / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run", "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0"]
BENCH = {
    "name": "report-test",
    "boards": [{"id": "l4r5zi", "board": "nucleo_l4r5zi", "kind": "sim"},
               {"id": "nano33ble", "board": "nano33ble", "kind": "sim"}],
    "monitors": [{"id": "m1", "backend": "sim", "powers": "l4r5zi", "sample_rate": 20000},
                 {"id": "m2", "backend": "sim", "powers": "nano33ble", "sample_rate": 20000}],
    "models": [{"id": "digits-cnn", "path": "builtin:digits", "dataset": "digits"}],
    "modes": {"performance": {"warmups": 0, "runs": 8}, "accuracy": {"samples": 20},
              "energy": {"windows": 3, "inferences_per_window": 2, "idle_s": 0.02}},
}


@pytest.fixture(scope="session")
def report_runs(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(first run, second run, its JUnit file), made through the real CLI."""
    root = tmp_path_factory.mktemp("report-runs")
    bench = root / "bench.yaml"
    bench.write_text(yaml.safe_dump(BENCH, sort_keys=False))
    results = root / "results"
    first = CliRunner().invoke(main, ["run", str(bench), "--results-dir", str(results)])
    assert first.exit_code == 0, first.output
    (run1,) = [p for p in results.iterdir() if p.is_dir()]
    junit = root / "junit.xml"
    second = CliRunner().invoke(main, ["run", str(bench), "--results-dir", str(results),
                                       "--baseline", str(run1), "--junit", str(junit)])
    assert second.exit_code == 0, second.output
    assert "no regression" in second.output
    (run2,) = [p for p in results.iterdir() if p.is_dir() and p != run1]
    return run1, run2, junit


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=90)


def _console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


@pytest.mark.slow
def test_report_files_are_written_and_self_contained(report_runs):
    _, run2, _ = report_runs
    for name in ("report.html", "report.md", "summary.csv", "mlperf.csv", "results.csv",
                 "results.json", "gate.json"):
        assert (run2 / name).is_file(), name
    html = (run2 / "report.html").read_text()
    # no network: no URL, no external stylesheet, script or font
    assert not re.search(r"https?://|//cdn|@import|<link|<script|url\(", html)
    for png in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html):
        assert b"http" not in base64.b64decode(png)
    mlperf = (run2 / "mlperf.csv").read_text()
    assert "STM32L4R5ZI (Cortex-M4F) @ 120 MHz" in mlperf and "CMSIS-NN" in mlperf
    assert "TFLM host runtime" in mlperf and mlperf.count("simulated") == 2
    assert "## MLPerf Tiny style" in (run2 / "report.md").read_text()


@pytest.mark.slow
def test_run_junit_has_one_testcase_per_figure(report_runs):
    _, run2, junit = report_runs
    xml = JUnitXml.fromfile(str(junit))
    (suite,) = list(xml)
    rows = (run2 / "results.csv").read_text().strip().splitlines()[1:]
    assert suite.tests == len(rows) and xml.failures == 0 and xml.errors == 0
    case = next(c for c in suite if c.name == "l4r5zi/digits-cnn/as-is/energy_per_inference")
    assert "threshold +5 %" in case.system_out and case.classname == "harness.report-test.l4r5zi"


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed "
                    "(Debian package 'chromium'; `make setup` installs it as root)")
def test_report_opens_in_headless_chromium_with_tables_and_figures(report_runs, tmp_path):
    _, run2, _ = report_runs
    url = (run2 / "report.html").as_uri()
    dom = _chromium(["--dump-dom", url], tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert _console_messages(dom.stderr) == []
    page = dom.stdout
    for section in ("glance", "summary", "mlperf", "tradeoffs", "latency", "traces", "trend"):
        assert f'id="{section}"' in page, section
    assert page.index('id="glance"') < page.index('id="tradeoffs"') < page.index('id="summary"')
    assert page.count("<table") >= 3 and "digits-cnn" in page
    figures = re.findall(r'<figure class="figure" data-source="([^"]+)">', page)
    # trade-offs per board (2), latency across jobs (1), traces: the first shown and the
    # other board's collapsed (2), trend (1)
    assert len(figures) == 6 and set(figures) == {"simulated"}
    assert page.count('<img alt="') == 6
    assert page.count('<details class="traces">') == 1
    assert "No board resets, hangs, lost ports or resent commands." in page
    assert "No regression against the baseline" in page   # the run was gated: gate.json
    _check_layout(run2 / "report.html", tmp_path, "report")


def _layout(page: Path, tmp_path: Path) -> dict:
    """Chromium's layout of ``page`` at 1,280 px: a copy with a script that writes the page's
    widths and height (and any table box wider than its frame) into the DOM it dumps."""
    probe = tmp_path / f"probe-{page.parent.name}.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"),
                     encoding="utf-8")
    dom = _chromium(["--window-size=1280,1000", "--dump-dom", probe.as_uri()],
                    tmp_path / f"profile-layout-{page.parent.name}")
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'<pre id="layout">(.*?)</pre>', dom.stdout)
    assert found, dom.stdout[-2000:]
    return json.loads(html.unescape(found.group(1)))


_PROBE = """<script>
const root = document.documentElement;
const out = document.createElement("pre");
out.id = "layout";
out.textContent = JSON.stringify({
  width: root.clientWidth, scrollWidth: root.scrollWidth, height: root.scrollHeight,
  scrolled: [...document.querySelectorAll(".scroll")]
    .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.slice(0, 60)),
  glanceBottom: document.querySelector("table.glance").getBoundingClientRect().bottom,
  images: [...document.images].filter(i => i.clientWidth > 0)
    .map(i => [i.naturalWidth, i.clientWidth])});
document.body.appendChild(out);
</script>"""


def _check_layout(page: Path, tmp_path: Path, name: str) -> dict:
    """No horizontal overflow at 1,280 px, every table and figure at its own size (100 %
    zoom is what a reader sees); the top of the page saved as a screenshot."""
    layout = _layout(page, tmp_path)
    assert layout["width"] <= 1280 and layout["scrollWidth"] <= layout["width"], layout
    assert layout["scrolled"] == []
    assert layout["images"] and all(shown == natural for natural, shown in layout["images"])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}-top.png"
    shot.unlink(missing_ok=True)
    result = _chromium([f"--screenshot={shot}", "--window-size=1280,1000", page.as_uri()],
                       tmp_path / f"profile-shot-{name}")
    assert result.returncode == 0 and shot.stat().st_size > 10_000
    return layout


@pytest.fixture(scope="session")
def many_jobs_run(report_runs, tmp_path_factory) -> Path:
    """A run of 22 jobs (the demo's count: 2 boards x 11 variants) made of the real run's saved
    files: each board's rows, trace and cycles copied per variant, figures scaled apart."""
    _, run2, _ = report_runs
    run = tmp_path_factory.mktemp("many") / "run"
    store = RunStore(run)
    store.create(json.loads((run2 / "run.json").read_text()) | {"run_id": "many"})
    rows = RunStore(run2).read_rows()
    for board in dict.fromkeys(r["board"] for r in rows):
        mine = [r for r in rows if r["board"] == board]
        job = f"{board}__{mine[0]['model']}__{mine[0]['variant']}"
        cycles = np.load(run2 / "raw" / f"{job}.cycles.npy", allow_pickle=False)
        for k in range(11):
            variant, scale = f"variant-{k:02d}-int8", 0.3 * 1.6 ** k
            copied = [_scaled(r, variant, scale, accuracy_drop=0.5 * (k % 4)) for r in mine]
            with store.csv_path.open("a", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(mine[0]), lineterminator="\n")
                if fh.tell() == 0:
                    writer.writeheader()
                writer.writerows(copied)
            key = f"{board}/{mine[0]['model']}/{variant}"
            store.record_outcome(key, "done", csv_bytes=store.csv_path.stat().st_size)
            shutil.copy(run2 / "traces" / f"{job}.npz", store.job_file("traces", key, ".npz"))
            np.save(store.job_file("raw", key, ".cycles.npy"),
                    (cycles * scale).astype(np.int64), allow_pickle=False)
    result = CliRunner().invoke(main, ["report", str(run)])
    assert result.exit_code == 0, result.output
    return run


def _scaled(row: dict[str, str], variant: str, scale: float, accuracy_drop: float
            ) -> dict[str, str]:
    row = dict(row, variant=variant)
    if row["metric"].startswith(("latency", "energy")):
        for key in ("value", "ci_low", "ci_high"):
            if row[key]:
                row[key] = str(float(row[key]) * scale)
    if row["metric"] == "top1":
        row["value"] = str(float(row["value"]) - accuracy_drop)
    return row


@pytest.mark.slow
def test_a_22_job_report_stays_under_1_mb(many_jobs_run):
    page = many_jobs_run / "report.html"
    assert page.stat().st_size < 1_000_000
    text = page.read_text()
    assert text.count('<figure class="figure"') == 2 + 1 + 22 + 1   # + savings, no trend
    assert text.count('<details class="traces">') == 2


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")
def test_a_22_job_report_fits_1280_px_and_its_summary_is_on_the_first_screen(many_jobs_run,
                                                                              tmp_path):
    layout = _check_layout(many_jobs_run / "report.html", tmp_path, "report-22-jobs")
    assert layout["glanceBottom"] < 1000          # the summary table: on the first screen
    assert layout["height"] < 9000   # was ~16,000 px with a histogram and a trace per job


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")
def test_console_check_sees_a_script_error(tmp_path):
    """The console check is not blind: a page with an error is caught."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>undefinedFunction();</script></body></html>")
    result = _chromium(["--dump-dom", page.as_uri()], tmp_path / "profile")
    assert any("Uncaught ReferenceError" in m for m in _console_messages(result.stderr))


def test_report_cli_rebuilds_from_saved_files_with_cards(tmp_path):
    """`harness report` on a run folder made of saved files only, with a Variants section."""
    import json

    from harness.results.rows import RowContext
    from harness.results.store import RunStore

    store = RunStore(tmp_path / "run")
    store.create({"run_id": "run", "bench": "b", "bench_file": "", "started": "2026-01-01",
                  "harness_version": "0", "git_commit": ""})
    for variant, size, ms, uj, acc in (("fp32", 30000, 4.0, 200.0, 95.0),
                                       ("int8", 9000, 1.5, 60.0, 94.5)):
        ctx = RowContext("run", "0", "", "b", "l4r5zi", "nucleo_l4r5zi", "sim", "simulated",
                         "digits-cnn", variant)
        store.append_job(f"l4r5zi/digits-cnn/{variant}", [
            ctx.row("info", "model_bytes", size, "B", time="t"),
            ctx.row("performance", "latency_median", ms, "ms", time="t"),
            ctx.row("accuracy", "top1", acc, "%", time="t"),
            ctx.row("energy", "energy_per_inference", uj, "uJ", time="t", ci=(uj - 1, uj + 1))])
        (store.run_dir / "cards").mkdir(exist_ok=True)
        (store.run_dir / "cards" / f"digits-cnn__{variant}.json").write_text(json.dumps(
            {"model": "digits-cnn", "variant": variant, "file_bytes": size, "params": 7000,
             "accuracy": {"metric": "top1", "tflite": acc / 100, "tflm": acc / 100}}))
    result = CliRunner().invoke(main, ["report", str(store.run_dir)])
    assert result.exit_code == 0, result.output
    html = (store.run_dir / "report.html").read_text()
    assert 'id="variants"' in html and 'id="savings"' in html
    md = (store.run_dir / "report.md").read_text()
    assert "| l4r5zi | digits-cnn | int8 | fp32 | +70.0 | +62.5 | +70.0 | -0.5 |" in md
    assert "## Variants: model cards (host TFLite and TFLM runtimes)" in md
