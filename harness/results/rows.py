"""One tidy row per board x model x variant x metric."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class ResultRow:
    run_id: str
    time: str                 # ISO 8601 UTC, when the figure was produced
    harness_version: str
    git_commit: str           # "" outside a git checkout
    bench: str
    board: str                # bench board id
    board_def: str            # boards/<id>.yaml
    board_kind: str           # hardware | qemu | sim
    source: str               # measured | emulated | simulated
    protocol: str             # what the board's firmware speaks: harness | mlperf
    model: str
    variant: str
    mode: str                 # performance | accuracy | energy
    metric: str
    value: float
    unit: str
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    notes: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ResultRow))

# A row's notes are statements joined by NOTE_SEPARATOR; those that qualify the figure
# (a reader must see them beside it) start with CAVEAT, and every report lists them.
NOTE_SEPARATOR = " | "
CAVEAT = "caveat: "
GENERATED_INPUTS = ("generated inputs (no dataset): accuracy cannot be scored; the mismatch "
                    "count compares the board with the TFLM host runtime")


def join_notes(*parts: str) -> str:
    return NOTE_SEPARATOR.join(p for p in parts if p)


def caveat(text: str) -> str:
    return CAVEAT + text


def caveats_in(notes: str) -> list[str]:
    return [p[len(CAVEAT):] for p in notes.split(NOTE_SEPARATOR) if p.startswith(CAVEAT)]


@dataclass(frozen=True)
class RowContext:
    """What every row of one job shares; `row()` adds the figure."""

    run_id: str
    harness_version: str
    git_commit: str
    bench: str
    board: str
    board_def: str
    board_kind: str
    source: str
    model: str
    variant: str
    protocol: str = "harness"

    def row(self, mode: str, metric: str, value: float, unit: str, *, time: str,
            ci: tuple[float, float] | None = None, n: int | None = None,
            notes: str = "") -> ResultRow:
        return ResultRow(
            run_id=self.run_id, time=time, harness_version=self.harness_version,
            git_commit=self.git_commit, bench=self.bench, board=self.board,
            board_def=self.board_def, board_kind=self.board_kind, source=self.source,
            protocol=self.protocol, model=self.model, variant=self.variant, mode=mode,
            metric=metric, value=float(value), unit=unit,
            ci_low=None if ci is None else float(ci[0]),
            ci_high=None if ci is None else float(ci[1]),
            n=n, notes=notes,
        )
