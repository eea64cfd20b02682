"""A submission's ``systems/<system>.json``, from the board definition the figures ran on.

The keys are those of the MLPerf Tiny results repositories' system descriptions
(the checker copies ``Board Name``, ``Processor(s) Name``, ``Processor(s)
Frequencies``, ``Processor memory type and capacity``, ``Hardware Notes``,
``Inference Framework``, ``Software Libraries`` and ``Software Notes`` into its
summary). What a board definition does not say stays empty rather than guessed.
A system whose figures are not measured says so in its name, its board name,
its status (RDI) and first in both notes.
"""

from __future__ import annotations

from harness.config.board import BoardSpec
from harness.report.system import CORE_NAMES, KERNEL_LIBRARIES
from harness.results.mlperf_record import MlperfRecord

MEASURED = "measured"
#: what a figure that is not measured rests on, by source
UNMEASURED = {
    "simulated": "SIMULATED by tinyml-harness: the TFLM host runtime under the board's latency "
                 "and power models (docs/boards.md), not a measurement of the board",
    "emulated": "EMULATED by tinyml-harness: the firmware in QEMU, timed in instructions at one "
                "per cycle, not a measurement of the board",
}
FRAMEWORK = "TensorFlow Lite for Microcontrollers (TFLM)"
FRAMEWORK_BY_KIND = {"hardware": FRAMEWORK, "qemu": f"{FRAMEWORK} in QEMU",
                     "sim": "TFLM host runtime (simulated board)"}


def unmeasured_note(source: str) -> str | None:
    """The warning an unmeasured figure carries everywhere, or None for a measured one."""
    if source == MEASURED:
        return None
    return UNMEASURED.get(source, f"{source.upper()}: not a measurement of the board")


def system_description(board: BoardSpec, records: list[MlperfRecord], submitter: str,
                       division: str, status: str) -> dict[str, str]:
    first = records[0]
    warning = unmeasured_note(first.source)
    ram, flash = _size(board.memory.ram_bytes), _size(board.memory.flash_bytes)
    models = "; ".join(f"{r.benchmark}: model {r.model}, variant {r.variant}, dataset "
                       f"{r.dataset}" for r in records)
    hardware = (f"{board.name}, {board.mcu} at {board.clock_hz / 1e6:g} MHz, supply "
                f"{board.supply.voltage_v:g} V; timer: {first.counter}")
    firmware = ("none (a simulated board process)" if first.board_kind == "sim"
                else f"{board.build.system} environment {board.build.env}")
    software = (f"tinyml-harness {first.harness_version} (commit {first.git_commit or 'n/a'}), "
                f"run {first.run_id}; firmware: {firmware}; {models}")
    return {
        "Submitter": submitter,
        "Division": division.capitalize(),
        "Status": "RDI" if warning else status_name(status),
        "Board Name": f"{board.name} ({warning})" if warning else board.name,
        "Board Memory capacity (not including SoC, processor, or accelerator)": "",
        "Board Memory type": "",
        "Board storage capacity": "",
        "Board storage type": "",
        "SoC Name": board.mcu,
        "SoC Memory capacity (not including processor or accelerator)": ram,
        "SoC Memory type": "RAM",
        "SoC storage capacity": flash,
        "SoC storage type": "Flash",
        "Processor(s) Name": f"Arm {CORE_NAMES[board.core]}" if board.core.startswith("cortex")
                             else CORE_NAMES[board.core],
        "Processor(s) Frequencies": f"{board.clock_hz / 1e6:g} MHz",
        "Processor memory type and capacity": f"{ram} RAM",
        "Processor storage type and capacity": f"{flash} Flash",
        "Accelerator": "",
        "Accelerator(s) Frequencies": "",
        "Accelerator memory type and capacity": "",
        "Accelerator storage type and capacity": "",
        "Hardware Notes": f"{warning}. {hardware}" if warning else hardware,
        "Inference Framework": FRAMEWORK_BY_KIND.get(first.board_kind, FRAMEWORK),
        "Software Libraries": KERNEL_LIBRARIES[board.build.kernels],
        "Operating System": "",
        "Other Software Stack": "",
        "Software Notes": f"{warning}. {software}" if warning else software,
        "Quantization Method": "",
        "Training framework (open division)": "",
        "ML Model Compiler(s)": "",
        "General Compiler(s)": "",
        "Other Software": "",
        "Training and Quantization Notes": "; ".join(
            f"{r.benchmark}: variant {r.variant} (docs/compression.md)" for r in records),
    }


def status_name(status: str) -> str:
    """available / preview / rdi as the results repositories spell them."""
    return {"available": "Available", "preview": "Preview", "rdi": "RDI"}[status]


def _size(n: int) -> str:
    mib = 1 << 20
    return f"{n // mib}MB" if n % mib == 0 else f"{n // 1024}KB"
