"""Boards in a labgrid farm (issue 11, items 2-4): real labgrid-coordinator, real exporters
serving simulated boards' ptys through real ser2net, pyserial's RFC 2217 client, a
power switch speaking labgrid's simplerest protocol. Two runs contend for places,
an exporter is killed mid-job, places are released on failure and on Ctrl-C.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from tiny_tflite import dense_float_model

from harness.config.bench import load_bench
from harness.errors import BoardError
from harness.farm.coordinator import FarmError
from harness.farm.loopback import LoopbackBoard, LoopbackFarm
from harness.run_bench import RunOptions, RunSummary, run_bench
from harness.run_workers import JobEvent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ser2net") is None and not Path("/usr/sbin/ser2net").exists(),
                       reason="needs ser2net (apt-get install ser2net; make setup does)"),
    pytest.mark.skipif(shutil.which("labgrid-coordinator",
                                    path=str(Path(sys.executable).parent)) is None,
                       reason="needs labgrid (pip install 'tinyml-harness[farm]')"),
]
HARNESS = str(Path(sys.executable).parent / "harness")
MODES = {"performance": {"warmups": 1, "runs": 20}, "accuracy": {"samples": 10}}
#: a job long enough (seconds at the realtime link's pace) to lose its place in the middle
LONG = {"performance": {"warmups": 1, "runs": 20}, "accuracy": {"samples": 150}}
DEFINITION = "nucleo_l4r5zi"


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("farm")
    for i, name in enumerate(("m0", "m1")):
        rng = np.random.default_rng(i)
        dense_float_model(folder / f"{name}.tflite", rng.normal(size=(4, 8)).astype("f4"),
                          rng.normal(size=4).astype("f4"))
    boards = [LoopbackBoard("p1", DEFINITION, "exA", folder / "m0.tflite", "realtime"),
              LoopbackBoard("p2", DEFINITION, "exA", folder / "m0.tflite", "realtime"),
              LoopbackBoard("p3", DEFINITION, "exB", folder / "m0.tflite", "realtime")]
    lab = LoopbackFarm(folder / "lab", boards).start()
    yield lab
    lab.close()


def _bench(farm: LoopbackFarm, folder: Path, boards: list[dict], model: str = "m0",
           modes: dict = MODES, **extra) -> Path:
    shutil.copy(farm.boards[0].model.parent / f"{model}.tflite", folder / f"{model}.tflite")
    bench = {"name": "farm", "coordinator": farm.address,
             "boards": [{"board": DEFINITION, "kind": "sim", "firmware": "preflashed",
                         "pace": "realtime", **b} for b in boards],
             "models": [{"id": model, "path": f"{model}.tflite"}], "variants": ["as-is"],
             "modes": modes, **extra}
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(bench, sort_keys=False))
    return path


def _run(bench: Path, on_job=None, **options) -> RunSummary:
    return run_bench(load_bench(bench), RunOptions(
        results_dir=bench.parent / "results", mlperf_dir=bench.parent,
        cache_dir=bench.parent / "cache", place_wait_s=options.pop("wait", 60.0), **options),
        on_job)


def _jobs(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "jobs.jsonl").read_text().splitlines()]


def _rows(run_dir: Path) -> list[dict]:
    with (run_dir / "results.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def _holders(farm: LoopbackFarm) -> dict[str, str | None]:
    with farm.client() as client:
        return {name: place.acquired for name, place in client.places().items()}


def test_a_place_board_measures_as_the_local_board_does(farm, tmp_path):
    bench = _bench(farm, tmp_path, [{"id": "l4", "place": "p1"}])
    summary = _run(bench)
    assert summary.completed == ["l4/m0/as-is"] and not summary.failed
    assert _jobs(summary.run_dir)[-1] == {**_jobs(summary.run_dir)[-1], "status": "done",
                                          "where": "p1"}
    assert _holders(farm) == {"p1": None, "p2": None, "p3": None}   # released
    # the same board on a local pty: the same figures (the model's, seed 0)
    local = tmp_path / "local"
    local.mkdir()
    spec = yaml.safe_load(bench.read_text())
    spec["boards"] = [{"id": "l4", "board": DEFINITION, "kind": "sim", "pace": "realtime"}]
    del spec["coordinator"]
    (local / "bench.yaml").write_text(yaml.safe_dump(spec))
    shutil.copy(tmp_path / "m0.tflite", local / "m0.tflite")
    ours = {r["metric"]: r for r in _rows(summary.run_dir)}
    theirs = {r["metric"]: r for r in _rows(_run(local / "bench.yaml").run_dir)}
    assert ours.keys() == theirs.keys()
    assert {m: r["value"] for m, r in ours.items()} == {m: r["value"] for m, r in theirs.items()}
    assert {r["source"] for r in ours.values()} == {"simulated"}


def test_farm_spreads_jobs_and_queues_a_lost_places_job_again(farm, tmp_path):
    # four bench boards of one definition over three places; exporter exB (p3) dies mid-job
    bench = _bench(farm, tmp_path, [{"id": f"l4-{i}"} for i in range(4)], modes=LONG)
    killed = threading.Event()

    def on_job(event: JobEvent) -> None:
        if event.state == "started" and event.where == "p3" and not killed.is_set():
            killed.set()
            threading.Timer(1.0, farm.kill_exporter, ("exB",)).start()

    try:
        summary = _run(bench, on_job, farm=True)
    finally:
        if killed.is_set():
            time.sleep(1.5)
            farm.start_exporter("exB")
    assert killed.is_set()
    assert sorted(summary.completed) == [f"l4-{i}/m0/as-is" for i in range(4)]
    assert not summary.failed
    outcomes = _jobs(summary.run_dir)
    (retry,) = [o for o in outcomes if o["status"] == "retrying"]
    assert retry["where"] == "p3" and "place 'p3' lost mid-job" in retry["message"]
    assert "exB" in retry["message"]
    done = [o for o in outcomes if o["status"] == "done"]
    assert sorted(o["job"] for o in done) == sorted(summary.completed)
    assert {o["where"] for o in done if o["job"] == retry["job"]} <= {"p1", "p2"}
    rows = _rows(summary.run_dir)       # every job's rows once: none lost, none twice
    per_job = {}
    for r in rows:
        per_job.setdefault(r["board"], []).append(r["metric"])
    assert len(per_job) == 4
    assert all(sorted(m) == sorted(per_job["l4-0"]) for m in per_job.values())
    assert all(len(m) == len(set(m)) for m in per_job.values())
    assert _holders(farm) == {"p1": None, "p2": None, "p3": None}


def _labgrid_client(farm: LoopbackFarm, *args: str) -> None:
    """Another user of the farm, with labgrid's own client."""
    subprocess.run([str(Path(sys.executable).parent / "labgrid-client"), "-x", farm.address,
                    *args], check=True, capture_output=True, timeout=30,
                   env={**os.environ, "LG_USERNAME": "alice", "LG_HOSTNAME": "lab-pc"})


def test_a_place_someone_else_holds_is_waited_for_never_taken(farm, tmp_path):
    _labgrid_client(farm, "-p", "p2", "acquire")
    try:
        bench = _bench(farm, tmp_path, [{"id": "l4", "place": "p2"}])
        started = time.monotonic()
        summary = _run(bench, wait=1.5)
        assert 1.5 <= time.monotonic() - started < 30
        (message,) = summary.failed.values()
        assert "place 'p2' is held by lab-pc/alice; waited 2 s" in message
        assert _holders(farm)["p2"] == "lab-pc/alice"     # still theirs
    finally:
        _labgrid_client(farm, "-p", "p2", "release")
    assert _holders(farm)["p2"] is None


def test_two_runs_contend_for_one_place_and_both_complete(farm, tmp_path):
    runs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        bench = _bench(farm, folder, [{"id": "l4", "place": "p1"}])
        runs.append(subprocess.Popen([HARNESS, "run", str(bench), "--results-dir",
                                      str(folder / "results"), "--mlperf-dir", str(folder),
                                      "--place-wait", "120"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True))
    outputs = [p.communicate(timeout=180)[0] for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outputs
    spans = []
    for name in ("a", "b"):
        (run_dir,) = (tmp_path / name / "results").glob("*-farm")
        times = sorted(r["time"] for r in _rows(run_dir))
        spans.append((times[0], times[-1]))
    spans.sort()
    assert spans[0][1] < spans[1][0]        # one after the other on the one board
    assert _holders(farm)["p1"] is None


def test_release_on_failure_and_on_ctrl_c(farm, tmp_path):
    # the board runs m0; a job asking for m1 fails on the model hash, and p3 goes back
    bench = _bench(farm, tmp_path, [{"id": "l4", "place": "p3"}], model="m1")
    summary = _run(bench)
    (message,) = summary.failed.values()
    assert "model hash" in message
    assert _holders(farm)["p3"] is None
    # Ctrl-C mid-job: the CLI releases the place on its way out
    bench = _bench(farm, tmp_path, [{"id": "l4", "place": "p3"}], modes=LONG)
    proc = subprocess.Popen([HARNESS, "run", str(bench), "--results-dir",
                             str(tmp_path / "results"), "--mlperf-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 60
    while _holders(farm)["p3"] is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _holders(farm)["p3"] is not None, "the run never acquired p3"
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, output       # 128 + SIGINT
    assert _holders(farm)["p3"] is None, output


def test_power_switch_brings_a_hung_place_board_back(farm, tmp_path):
    bench = _bench(farm, tmp_path, [{"id": "l4", "place": "p1"}])

    def on_job(event: JobEvent) -> None:
        if event.state == "started":   # the board is wedged when the job starts
            farm.sims["p1"].hang()

    farm.switched.clear()
    summary = _run(bench, on_job)
    assert summary.completed == ["l4/m0/as-is"], summary.failed   # measured to the end
    assert farm.switched[:2] == [("p1", False), ("p1", True)]      # by a power cycle
    assert farm.sims["p1"].running


@pytest.mark.parametrize("change, expected", [
    ({"place": "nowhere"}, "place 'nowhere': no such place on coordinator"),
    ({"place": "p1", "board": "nano33ble"}, "place 'p1' tagged board=nucleo_l4r5zi"),
])
def test_bad_places_are_named_before_anything_is_written(farm, tmp_path, change, expected):
    bench = _bench(farm, tmp_path, [{"id": "l4", **change}])
    with pytest.raises(FarmError, match=expected):
        _run(bench)
    assert not (tmp_path / "results").exists()


def test_an_unreachable_coordinator_is_named(tmp_path, farm):
    bench = _bench(farm, tmp_path, [{"id": "l4", "place": "p1"}])
    with pytest.raises(BoardError, match=re.escape("coordinator 127.0.0.1:1 is unreachable")):
        _run(bench, coordinator="127.0.0.1:1")
    assert not (tmp_path / "results").exists()


def test_a_place_lost_mid_run_fails_its_job_by_name_and_keeps_the_rest(farm, tmp_path):
    bench = _bench(farm, tmp_path, [{"id": "l4", "place": "p3"}, {"id": "l4b", "place": "p1"}],
                   modes=LONG)
    killed = threading.Event()

    def on_job(event: JobEvent) -> None:
        if event.state == "started" and event.where == "p3" and not killed.is_set():
            killed.set()
            threading.Timer(1.0, farm.kill_exporter, ("exB",)).start()

    try:
        summary = _run(bench, on_job)
    finally:
        if killed.is_set():
            time.sleep(1.5)
            farm.start_exporter("exB")
    assert summary.completed == ["l4b/m0/as-is"]
    (message,) = summary.failed.values()
    assert message.startswith("place 'p3' lost: its exporter disconnected")
    assert {r["board"] for r in _rows(summary.run_dir)} <= {"l4", "l4b"}
    assert [o["status"] for o in _jobs(summary.run_dir) if o["job"] == "l4b/m0/as-is"] == ["done"]


def test_farm_command_lists_places_holders_and_where_jobs_would_run(farm, tmp_path):
    from click.testing import CliRunner

    from harness.cli import main

    bench = _bench(farm, tmp_path, [{"id": "l4-a"}, {"id": "l4-b", "place": "p2"}])
    _labgrid_client(farm, "-p", "p3", "acquire")
    try:
        spread = CliRunner().invoke(main, ["farm", str(bench), "--farm"])
        placed = CliRunner().invoke(main, ["farm", str(bench)])
    finally:
        _labgrid_client(farm, "-p", "p3", "release")
    assert spread.exit_code == 0, spread.output
    lines = {line.split()[0]: line for line in spread.output.splitlines() if line.strip()}
    assert "board=nucleo_l4r5zi" in lines["p1"] and "exA" in lines["p1"]
    assert "lab-pc/alice" in lines["p3"] and "simplerest" in lines["p3"]
    assert "p1, p2, p3" in lines["l4-a"] and "p1, p2, p3" in lines["l4-b"]
    lines = {line.split()[0]: line for line in placed.output.splitlines() if line.strip()}
    assert "local board (no place)" in lines["l4-a"] and " p2 " in lines["l4-b"] + " "


# --- a CI cancels the run (SIGTERM), or kills it (SIGKILL) -----------------------------------

def _me(farm: LoopbackFarm) -> str:
    with farm.client() as client:
        return client.me


def _harness_run(bench: Path, *options: str) -> subprocess.Popen:
    return subprocess.Popen([HARNESS, "run", str(bench), "--results-dir",
                             str(bench.parent / "results"), "--mlperf-dir", str(bench.parent),
                             *options], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_until(proc: subprocess.Popen, ready, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if found := ready():
            return found
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"the run never got to {what} (exit {proc.wait()}): {proc.communicate()[0]}")


def _serving(farm: LoopbackFarm, name: str, holder: str) -> bool:
    """Is ``name`` acquired by ``holder``, its serial port served (the acquire done)?"""
    with farm.client() as client:
        place = client.place(name)
    serial = place.first("NetworkSerialPort")
    return place.acquired == holder and serial is not None and bool(serial.params.get("port"))


def _done_jobs(results: Path) -> list[str]:
    runs = list(results.glob("*-farm"))
    if not runs or not (runs[0] / "jobs.jsonl").exists():
        return []
    lines = (runs[0] / "jobs.jsonl").read_text().splitlines()
    return [json.loads(line)["job"] for line in lines if '"done"' in line]


def test_sigterm_releases_every_place_keeps_done_jobs_and_the_run_resumes(farm, tmp_path):
    # the nightly's case: four jobs spread over the three places, cancelled by its CI
    bench = _bench(farm, tmp_path, [{"id": f"l4-{i}"} for i in range(4)], modes=LONG)
    results = tmp_path / "results"
    proc = _harness_run(bench, "--farm")
    me = _me(farm)
    # a job done, the fourth started where it ran: every place is held (the others wait
    # while a job is out, as one may come back)
    _wait_until(proc, lambda: _done_jobs(results)
                and set(_holders(farm).values()) == {me}, "a done job with all places held")
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 143, output
    assert "stopped: SIGTERM (exit 143)" in output
    (run_dir,) = results.glob("*-farm")
    assert f"--resume {run_dir.name} runs the rest" in output
    assert _holders(farm) == {"p1": None, "p2": None, "p3": None}, output
    done = _done_jobs(results)
    assert 1 <= len(done) < 4, output
    kept = _rows(run_dir)     # the done jobs' rows, and only theirs
    assert {r["board"] for r in kept} == {job.split("/")[0] for job in done}

    summary = _run(bench, farm=True, run_id=run_dir.name)     # the resume
    assert sorted(summary.completed) == [f"l4-{i}/m0/as-is" for i in range(4)]
    assert not summary.failed
    rows = _rows(run_dir)
    assert rows[:len(kept)] == kept        # kept as they were
    per_job: dict[str, list[str]] = {}
    for r in rows:
        per_job.setdefault(r["board"], []).append(r["metric"])
    assert len(per_job) == 4
    assert all(sorted(m) == sorted(per_job["l4-0"]) and len(m) == len(set(m))
               for m in per_job.values())      # every job's rows once
    assert _holders(farm) == {"p1": None, "p2": None, "p3": None}


def test_sigkill_leaves_a_place_the_next_run_names_and_takes_back_when_told(farm, tmp_path):
    bench = _bench(farm, tmp_path, [{"id": "l4", "place": "p2"}], modes=LONG)
    proc = _harness_run(bench)
    me = _me(farm)
    _wait_until(proc, lambda: _serving(farm, "p2", me), "holding p2")
    time.sleep(1.0)     # its job is under way (a kill inside labgrid's acquire is another case)
    proc.kill()         # a CI's SIGKILL: nothing runs on the way out
    proc.communicate(timeout=30)
    assert _holders(farm)["p2"] == me       # labgrid keeps it acquired by this host/user
    (run_dir,) = (tmp_path / "results").glob("*-farm")

    started = time.monotonic()              # not waited for: it would never come free
    with pytest.raises(FarmError) as stopped:
        _run(bench, run_id=run_dir.name, wait=60)
    assert time.monotonic() - started < 20
    message = str(stopped.value)
    assert f"place 'p2' is still acquired by {me} (this host and user) for harness run " \
           f"{run_dir.name} (pid {proc.pid}," in message
    assert f"labgrid-client -x {farm.address} -p p2 release-from {me}" in message
    assert "--reclaim-stale-places" in message
    assert _holders(farm)["p2"] == me

    summary = _run(bench, run_id=run_dir.name, reclaim_stale_places=True)
    assert summary.completed == ["l4/m0/as-is"], summary.failed
    assert _holders(farm)["p2"] is None


def test_reclaim_never_takes_a_place_no_dead_harness_run_left(farm, tmp_path):
    # p1: another user's; p3: this host and user's, acquired by hand (no harness lease)
    _labgrid_client(farm, "-p", "p1", "acquire")
    subprocess.run([str(Path(sys.executable).parent / "labgrid-client"), "-x", farm.address,
                    "-p", "p3", "acquire"], check=True, capture_output=True, timeout=30)
    try:
        bench = _bench(farm, tmp_path, [{"id": "a", "place": "p1"}, {"id": "b", "place": "p3"}])
        summary = _run(bench, wait=1.5, reclaim_stale_places=True)
        me = _me(farm)
        assert sorted(summary.failed.values()) == [
            "place 'p1' is held by lab-pc/alice; waited 2 s for it (it is not taken from its "
            "holder)",
            f"place 'p3' is held by {me}; waited 2 s for it (it is not taken from its holder)"]
        assert _holders(farm) == {"p1": "lab-pc/alice", "p2": None, "p3": me}
    finally:
        _labgrid_client(farm, "-p", "p1", "release")
        subprocess.run([str(Path(sys.executable).parent / "labgrid-client"), "-x",
                        farm.address, "-p", "p3", "release"], check=True, capture_output=True,
                       timeout=30)
