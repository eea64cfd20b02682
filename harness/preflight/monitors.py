"""Pre-flight of the power side: monitor params, what each monitor can measure, the wiring."""

from __future__ import annotations

from harness.config.bench import Bench, BenchMonitor
from harness.config.board import BoardSpec
from harness.config.yaml_loader import validate
from harness.errors import ConfigError, HarnessError
from harness.power.backend_params import MONITOR_BACKENDS, BackendInfo
from harness.preflight.findings import Finding


def check_monitors(bench: Bench) -> list[Finding]:
    findings: list[Finding] = []
    energy = bench.spec.modes.energy is not None
    for i, monitor in enumerate(bench.spec.monitors):
        board = bench.boards[monitor.powers]
        try:
            info = MONITOR_BACKENDS.get(monitor.backend)
        except HarnessError as exc:  # a plugin that does not load
            findings.append(Finding("error", str(bench.path), f"monitors[{i}].backend",
                                    str(exc)))
            continue
        findings += _params(bench, i, monitor, info)
        if info.needs_resource and not monitor.resource:
            findings.append(Finding("error", str(bench.path), f"monitors[{i}].resource",
                                    f"backend {monitor.backend} needs the instrument's VISA "
                                    "resource (`harness monitors` lists them)"))
        if energy:
            findings += _measurable(bench, i, monitor, board)
        if board.kind == "hardware" and board.supply.link_powers_board:
            findings.append(_link_powers_board(bench, i, monitor, board))
    if energy:
        for i, bench_board in enumerate(bench.spec.boards):
            if bench.spec.monitor_for(bench_board.id) is None:
                findings.append(Finding(
                    "warning", str(bench.path), f"boards[{i}]",
                    f"energy mode is on but no monitor powers {bench_board.id!r}: its jobs "
                    "will have no energy figures"))
    return findings


def _params(bench: Bench, i: int, monitor: BenchMonitor, info: BackendInfo) -> list[Finding]:
    """One finding per unknown key (listing the keys the backend takes), then the first
    wrong value among the known ones."""
    schema = info.params
    field = f"monitors[{i}].params"
    allowed = ", ".join(schema.model_fields) or "no params"
    findings = [Finding("error", str(bench.path), f"{field}.{key}",
                        f"unknown key (backend {monitor.backend} takes: {allowed})")
                for key in monitor.params if key not in schema.model_fields]
    known = {k: v for k, v in monitor.params.items() if k in schema.model_fields}
    try:
        validate(schema, known, bench.path)
    except ConfigError as exc:
        findings.append(Finding("error", str(bench.path),
                                f"{field}.{exc.field}" if exc.field else field, exc.message))
    return findings


def _measurable(bench: Bench, i: int, monitor: BenchMonitor, board: BoardSpec) -> list[Finding]:
    """The sim monitor measures a simulated board's virtual supply and nothing else; an
    instrument cannot measure a simulated board; nothing measures an emulated one."""
    problem = ""
    if board.kind == "qemu":
        problem = (f"{monitor.powers!r} is an emulated (QEMU) board: nothing measures its power; "
                   "remove the monitor or run energy mode on a sim or hardware board")
    elif monitor.backend == "sim" and board.kind != "sim":
        problem = (f"backend sim measures a simulated board's virtual supply, and "
                   f"{monitor.powers!r} is a {board.kind} board: use an instrument backend, "
                   "or kind: sim")
    elif monitor.backend != "sim" and board.kind == "sim":
        problem = (f"{monitor.powers!r} is a simulated board: a {monitor.backend} cannot measure "
                   "it; use backend sim")
    return [Finding("error", str(bench.path), f"monitors[{i}].backend", problem)] if problem else []


def _link_powers_board(bench: Bench, i: int, monitor: BenchMonitor, board: BoardSpec) -> Finding:
    link = board.energy_link
    how = ("power it from the monitor alone and talk to it over its energy_link "
           f"({link.via} on {link.pins}), or cut VBUS on the USB link" if link.pins else
           "power it from the monitor alone: cut VBUS on the USB link")
    return Finding(
        "warning", str(bench.path), f"monitors[{i}].powers",
        f"monitor {monitor.id} powers {monitor.powers!r} ({board.id}), and so does the board's "
        f"serial link ({board.serial.link}): the monitor would measure only part of the "
        f"draw; {how}")
