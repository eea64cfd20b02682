"""Ctrl-C and SIGTERM as one exception in the main thread, held back while places are
released (harness/interrupts.py): a real Python process, real signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

PROGRAM = textwrap.dedent("""
    import sys, threading, time
    from harness.interrupts import Interrupted, shielded, stop_signals_interrupt

    def worker():          # a worker thread never gets the exception
        time.sleep(3)
        print("worker finished", flush=True)

    with stop_signals_interrupt():
        try:
            if sys.argv[1] == "shielded":
                with shielded():
                    print("ready", flush=True)
                    time.sleep(1.0)
                    print("release done", flush=True)
                print("not reached", flush=True)
            else:
                t = threading.Thread(target=worker, daemon=True)
                t.start()
                print("ready", flush=True)
                while t.is_alive():
                    t.join(0.2)
                print("not reached", flush=True)
        except Interrupted as exc:
            print(f"interrupted by {exc.signum}", flush=True)
""")


def _signalled(mode: str, sig: int) -> list[str]:
    proc = subprocess.Popen([sys.executable, "-c", PROGRAM, mode], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(sig)
    out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, out
    return out.split("\n")[:-1]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_interrupts_the_main_thread_at_once(sig):
    assert _signalled("wait", sig) == [f"interrupted by {int(sig)}"]


def test_a_stop_signal_waits_for_a_shielded_release_then_interrupts():
    assert _signalled("shielded", signal.SIGTERM) == ["release done",
                                                      f"interrupted by {int(signal.SIGTERM)}"]
