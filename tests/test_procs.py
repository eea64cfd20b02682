"""harness/procs.py: what the harness starts never outlives it, SIGKILL included.

Real processes throughout: shells that fork, orphan and ignore SIGTERM, and the
TFLM probe helper and the children it forks, found afterwards through /proc.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import procs
from tests.process_tree import new_tag, tagged, wait_until_gone

# a shell with an orphaned grandchild (double fork) and a grandchild that ignores SIGTERM
TREE = "(sleep 300 &); (trap '' TERM; sleep 301) & sleep 302"
TESTS = Path(__file__).resolve().parent


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return stat[stat.rindex(b")") + 2:].split()[0].decode()


def _wait_for(env: dict[str, str], count: int, timeout: float = 10.0) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while len(found := tagged(env)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


def test_status_and_output_are_the_programs() -> None:
    done = procs.run(["sh", "-c", "echo out; echo err >&2; exit 3"], capture_output=True,
                     text=True)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
    assert procs.run(["sh", "-c", "kill -TERM $$"]).returncode == -signal.SIGTERM
    with pytest.raises(FileNotFoundError, match="no-such-program"):
        procs.spawn(["no-such-program"])


def test_signals_reach_the_program_and_terminate_ends_its_whole_tree() -> None:
    env = new_tag()
    proc = procs.spawn(["sh", "-c", TREE], env=env)
    before = _wait_for(env, 5)  # supervisor, sh, three sleeps
    assert proc.pid in before and proc.cmd_pid in before
    assert sorted(cmd for cmd in before.values() if cmd.startswith("sleep")) == \
        ["sleep 300", "sleep 301", "sleep 302"]
    proc.send_signal(signal.SIGSTOP)  # a board told to hang: the program stops, not the supervisor
    time.sleep(0.1)
    assert (_state(proc.cmd_pid), _state(proc.pid)) == ("T", "S")
    started = time.monotonic()
    proc.terminate()
    assert proc.wait(timeout=procs.GRACE_S + 5) == -signal.SIGTERM
    took = time.monotonic() - started
    assert tagged(env) == {}
    # the stopped shell was continued; the TERM-ignoring sleep needed SIGKILL after the grace
    assert procs.GRACE_S <= took < procs.GRACE_S + 2


def test_a_timeout_ends_the_tree_and_an_exit_ends_what_was_left_behind() -> None:
    env = new_tag()
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        procs.run(["sh", "-c", "sleep 300 & sleep 300 & wait"], timeout=0.5, env=env)
    assert time.monotonic() - started < 3 and tagged(env) == {}
    assert procs.run(["sh", "-c", "(sleep 300 &); exit 0"], env=env).returncode == 0
    assert tagged(env) == {}  # the orphaned sleep came to the supervisor, which ended it


STAND_IN = """
import sys, time
import numpy as np
sys.path.insert(0, {tests!r})
from pathlib import Path
from tiny_tflite import dense_float_model
from harness import procs
from harness.models.tflm_host import TflmHostModel

# no __main__ guard: the harness must not need one (the probe helper is a program)
procs.spawn(["sh", "-c", {tree!r}])
model = dense_float_model(Path({model!r}), np.ones((2, 3), "f4"), np.zeros(2, "f4"))
TflmHostModel.load(model)  # starts the probe helper program
print("ready", flush=True)
time.sleep(300)
"""


def test_sigkill_of_the_harness_ends_every_process_it_started(tmp_path: Path) -> None:
    """A stand-in for the harness starts a program tree and the TFLM probe helper,
    then is SIGKILLed: nothing it started, directly or not, survives it."""
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN.format(tests=str(TESTS), tree=TREE,
                                      model=str(tmp_path / "m.tflite")))
    env = new_tag()
    harness = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                               text=True)
    try:
        assert harness.stdout is not None and harness.stdout.readline() == "ready\n"
        before = tagged(env)
    finally:
        harness.kill()
        harness.wait()
    kinds = " | ".join(before.values())
    for part in ("procs.py", "sleep 300", "sleep 301", "sleep 302", "harness.models.tflm_probe"):
        assert part in kinds, f"{part} was not running before the kill: {kinds}"
    left = wait_until_gone(env, procs.GRACE_S + 5)
    assert left == {}, f"outlived the killed harness: {left}"


FORKS = """
import os, time
from harness.procs import die_with_parent
me = os.getpid()
if os.fork() == 0:
    die_with_parent(me)
    time.sleep(300)
print("ready", flush=True)
time.sleep(300)
"""


def test_a_forked_child_dies_with_its_parent() -> None:
    env = new_tag()
    parent = subprocess.Popen([sys.executable, "-c", FORKS], env=env, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline() == "ready\n"
        assert len(_wait_for(env, 2)) == 2
    finally:
        parent.kill()
        parent.wait()
    assert wait_until_gone(env, 2.0) == {}
