"""Place leases (harness/farm/leases.py): a process that holds a place holds its lease's
lock; SIGKILL drops the lock and leaves the record, which is how a place left behind is
told from one a live run works on. Real processes, real flock(2)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

from harness.farm import leases

RECORD = leases.LeaseRecord("p1", "127.0.0.1:20408", "lab-pc/ci", "20260101T000000Z-nightly",
                            0, "2026-01-01T00:00:00+00:00", "TOKEN1")

HOLDER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from harness.farm import leases
    record = leases.LeaseRecord("p1", "127.0.0.1:20408", "lab-pc/ci", "run-x", os.getpid(),
                                "2026-01-01T00:00:00+00:00", "TOKEN2")
    assert leases.take(Path(sys.argv[1]), record) is not None
    print("holding", flush=True)
    time.sleep(60)
""")


def _holder(path: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def test_a_released_lease_names_nobody(tmp_path):
    path = leases.lease_path(tmp_path, "127.0.0.1:20408", "p1")
    assert path == tmp_path / "places" / "127.0.0.1_20408" / "p1.lease"
    assert leases.read(path) == (False, None)           # never taken
    lease = leases.take(path, RECORD)
    assert lease is not None
    assert leases.read(path) == (True, RECORD)          # held, here
    lease.release()
    assert leases.read(path) == (False, None)


def test_sigkill_leaves_the_record_without_a_holder_and_clear_empties_it(tmp_path):
    path = leases.lease_path(tmp_path, "127.0.0.1:20408", "p1")
    proc = _holder(path)
    alive, record = leases.read(path)
    assert alive and record == replace(RECORD, run="run-x", pid=proc.pid, token="TOKEN2")
    assert leases.take(path, RECORD, wait_s=0.3) is None     # not while it lives
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert leases.read(path) == (False, record)              # left behind
    leases.clear(path)
    assert leases.read(path) == (False, None)


def test_an_abandoned_lease_keeps_its_record(tmp_path):
    # the release failed (coordinator unreachable): the next run must find the place left
    path = leases.lease_path(tmp_path, "lab:20408", "p/1")
    lease = leases.take(path, RECORD)
    assert lease is not None
    lease.abandon()
    assert leases.read(path) == (False, RECORD)


def test_a_torn_record_is_no_record(tmp_path):
    path = leases.lease_path(tmp_path, "lab:20408", "p1")
    path.parent.mkdir(parents=True)
    path.write_text('{"place": "p1", "coordi')
    assert leases.read(path) == (False, None)
