"""Child processes that never outlive the harness, SIGKILL of the harness included.

Every program the harness starts (the simulated board, QEMU, make, PlatformIO)
goes through ``spawn``/``run``, which start it under a small supervisor: this
file run as a script (``python -I procs.py WATCH_FD REPORT_FD -- CMD...``), stdlib only.
The supervisor

- watches the read end of a pipe whose write end only the harness holds: when
  the harness process ends, however it ends, the kernel closes that end and the
  supervisor reads EOF. (A pipe, not ``PR_SET_PDEATHSIG``, for the harness: the
  parent-death signal fires when the *thread* that forked exits, and the harness
  may spawn from any thread.)
- is a child subreaper (``PR_SET_CHILD_SUBREAPER``), so descendants whose parent
  dies (gcc under make, the TFLM probe helper's forks) become its
  children instead of escaping to init; it ends all of them, not just CMD;
- gives CMD ``PR_SET_PDEATHSIG = SIGKILL`` (the supervisor is single-threaded,
  so the thread caveat does not apply), should the supervisor itself be killed;
- on EOF, SIGTERM or SIGHUP ends the whole tree: SIGTERM, then SIGKILL after
  ``GRACE_S``; when CMD exits it ends what CMD left behind, then exits as CMD
  did (same code, or the same signal), so callers see CMD's status.

Forked helpers that are not programs get the same guarantee from
``die_with_parent``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import IO, Any, NoReturn

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
GRACE_S = 2.0        # from SIGTERM to SIGKILL when a tree is ended
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

File = int | IO[Any] | None


# resolved once, here: a forked child must not dlopen (another thread may hold the loader lock)
_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    if _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0),
                  ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


def die_with_parent(parent_pid: int) -> None:
    """In a freshly forked child: be SIGKILLed when the parent (``parent_pid``) ends.

    Fork from a single-threaded process only: the signal is tied to the forking thread.
    """
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent ended before the line above
        os._exit(1)


# --- the harness side ---------------------------------------------------------------

_life_lock = threading.Lock()
_life_read_fd: int | None = None


def _life_fd() -> int:
    """Read end of the pipe whose write end this process holds until it ends."""
    global _life_read_fd
    with _life_lock:
        if _life_read_fd is None:
            # both ends close-on-exec: no program we start keeps the write end alive
            _life_read_fd, _ = os.pipe()
        return _life_read_fd


def _forget_life_pipe() -> None:
    global _life_read_fd
    _life_read_fd = None  # a forked child's own children are watched on its own pipe


os.register_at_fork(after_in_child=_forget_life_pipe)


class Supervised(subprocess.Popen):
    """The supervisor's Popen. ``send_signal`` reaches CMD itself (a board told to
    hang or reset); ``terminate`` and ``kill`` go to the supervisor, which ends
    the whole tree. ``cmd_pid`` is CMD's pid; ``pid``, ``wait`` and
    ``returncode`` are the supervisor's, whose status is CMD's."""

    cmd_pid: int
    _cmd_pidfd: int | None  # None: CMD had ended already

    def send_signal(self, sig: int) -> None:
        self.poll()
        if self.returncode is None and self._cmd_pidfd is not None:
            # through a pidfd: CMD's pid could be reused once the supervisor reaped it
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._cmd_pidfd, sig)

    def terminate(self) -> None:
        self._signal_supervisor(signal.SIGTERM)

    def kill(self) -> None:
        self._signal_supervisor(signal.SIGKILL)

    def _signal_supervisor(self, sig: int) -> None:
        self.poll()
        if self.returncode is None:
            os.kill(self.pid, sig)

    def _watch_cmd(self, report_fd: int, cmd: list[str]) -> None:
        """Read CMD's pid from the supervisor (it has forked CMD once it writes it)."""
        with os.fdopen(report_fd, "rb") as report:
            line = report.read()
        if not line:
            self.wait()
            raise OSError(f"the process supervisor exited ({self.returncode}) before "
                          f"starting {cmd}")
        self.cmd_pid = int(line)
        try:
            self._cmd_pidfd = os.pidfd_open(self.cmd_pid)
        except ProcessLookupError:
            self._cmd_pidfd = None
            return
        weakref.finalize(self, os.close, self._cmd_pidfd)


def spawn(cmd: list[str], *, stdin: File = None, stdout: File = None, stderr: File = None,
          cwd: Path | str | None = None, env: dict[str, str] | None = None,
          text: bool = False) -> Supervised:
    """``subprocess.Popen(cmd, ...)`` under a supervisor: see the module docstring."""
    path = (env if env is not None else os.environ).get("PATH", os.defpath)
    if shutil.which(cmd[0], path=path) is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), cmd[0])
    watch = _life_fd()
    report_r, report_w = os.pipe()
    try:
        proc = Supervised([sys.executable, "-I", str(Path(__file__).resolve()), str(watch),
                           str(report_w), "--", *cmd], stdin=stdin, stdout=stdout,
                          stderr=stderr, cwd=cwd, env=env, text=text,
                          pass_fds=(watch, report_w))
    finally:
        os.close(report_w)
    proc._watch_cmd(report_r, cmd)
    return proc


def stop(proc: subprocess.Popen) -> None:
    """End a spawned tree and wait for it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=GRACE_S + 5)
        except subprocess.TimeoutExpired:  # the supervisor itself hangs: CMD has PDEATHSIG
            proc.kill()
            proc.wait()


def run(cmd: list[str], *, timeout: float | None = None, capture_output: bool = False,
        text: bool = False, cwd: Path | str | None = None, env: dict[str, str] | None = None,
        stdout: File = None, stderr: File = None) -> subprocess.CompletedProcess:
    """``subprocess.run`` for ``spawn``: on a timeout (TimeoutExpired) or any other
    exception the whole tree is ended, not just CMD."""
    if capture_output:
        stdout = stderr = subprocess.PIPE
    proc = spawn(cmd, stdout=stdout, stderr=stderr, cwd=cwd, env=env, text=text)
    with proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            stop(proc)
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


# --- the supervisor -----------------------------------------------------------------

def _descendants(root: int) -> list[int]:
    """Every process below ``root``, zombies included, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:  # ended meanwhile
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])  # comm may hold spaces
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _reap(child: int) -> int | None:
    """Reap every ended child (orphans come to us); CMD's wait status if it was among them."""
    status = None
    while True:
        try:
            pid, wstatus = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if pid == 0:
            return status
        if pid == child:
            status = wstatus


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # ended meanwhile
            os.kill(pid, sig)


def _end_tree(child: int, status: int | None, grace: float) -> int | None:
    """SIGTERM every descendant, SIGKILL what is left after ``grace``; reap all of them."""
    tree = _descendants(os.getpid())
    _signal_all(tree, signal.SIGTERM)
    _signal_all(tree, signal.SIGCONT)  # a stopped process acts on SIGTERM only when continued
    deadline = time.monotonic() + grace
    while True:
        reaped = _reap(child)
        status = reaped if reaped is not None else status
        left = _descendants(os.getpid())
        if not left:
            return status
        if time.monotonic() >= deadline:
            _signal_all(left, signal.SIGKILL)
        time.sleep(0.01)


def _exec_child(cmd: list[str], supervisor: int) -> NoReturn:
    try:
        signal.set_wakeup_fd(-1)
        die_with_parent(supervisor)
        os.execvp(cmd[0], cmd)
    except BaseException as exc:  # anything here must end this child, never return
        os.write(2, f"harness.procs: cannot run {cmd[0]}: {exc}\n".encode())
    os._exit(127)


def _exit_as(status: int | None) -> NoReturn:
    """Exit with CMD's exit code, or die of CMD's signal."""
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file of the supervisor
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) if status is not None else 1)


def supervise(watch_fd: int, report_fd: int, cmd: list[str]) -> NoReturn:
    os.set_inheritable(watch_fd, False)
    os.set_inheritable(report_fd, False)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    for sig in (signal.SIGCHLD, signal.SIGINT, *_STOP_SIGNALS):
        # no-op handlers: the signal numbers arrive on the wakeup fd; SIGINT (^C) goes to
        # CMD too, which decides; handlers do not survive exec, so CMD gets the defaults
        signal.signal(sig, lambda *_: None)
    me = os.getpid()
    child = os.fork()
    if child == 0:
        _exec_child(cmd, me)
    os.write(report_fd, f"{child}\n".encode())
    os.close(report_fd)
    # let the caller see EOF on its pipes when CMD closes them, not when we exit
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    status, stopping = None, False
    while status is None and not stopping:
        ready, _, _ = select.select([watch_fd, wake_r], [], [])
        if watch_fd in ready and not os.read(watch_fd, 1):
            stopping = True  # EOF: the harness has ended
        if wake_r in ready:
            stopping |= bool(set(os.read(wake_r, 512)) & {int(s) for s in _STOP_SIGNALS})
        status = _reap(child)
    _exit_as(_end_tree(child, status, GRACE_S if stopping else 0.0))


if __name__ == "__main__":
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit("usage: procs.py WATCH_FD REPORT_FD -- CMD [ARG...]")
    supervise(int(sys.argv[1]), int(sys.argv[2]), sys.argv[4:])
