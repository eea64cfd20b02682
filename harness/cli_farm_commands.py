"""`harness farm`: the labgrid farm's places, and where a bench's jobs would run."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from harness.config.bench import load_bench

out = Console(soft_wrap=True, markup=False)
WIDE = 160  # CI logs are not 80 columns


@click.command()
@click.argument("bench_file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--coordinator", default=None, metavar="HOST[:PORT]",
              help="The labgrid coordinator (default: the bench's coordinator key, else "
                   "$LG_COORDINATOR).")
@click.option("--farm", "spread", is_flag=True,
              help="Show where `harness run BENCH --farm` would spread the jobs (default: "
                   "the bench's boards[].place).")
def farm(bench_file: Path | None, coordinator: str | None, spread: bool) -> None:
    """List the farm's places (tags, holder, exporter, serial port, power switch) and, given
    BENCH_FILE, which places would run its jobs."""
    from harness.farm.coordinator import FarmClient, coordinator_address
    from harness.farm.places import plan_on_farm, tags_text

    bench = load_bench(bench_file) if bench_file is not None else None
    client = FarmClient(coordinator_address(coordinator,
                                            bench.spec.coordinator if bench else None))
    try:
        places = client.places()
    finally:
        client.close()
    table = Table(box=None, title=f"places on {client.address}")
    for name in ("place", "tags", "held by", "exporter", "serial", "power", "state"):
        table.add_column(name, no_wrap=name != "state")
    for place in places.values():
        serial = place.first("NetworkSerialPort")
        power = place.first("NetworkPowerPort")
        table.add_row(place.name, tags_text(place.tags), place.acquired or "–",
                      ", ".join(sorted({r.exporter for r in place.resources})) or "–",
                      serial.params.get("extra", {}).get("path", "yes") if serial else "–",
                      str(power.params.get("model")) if power else "–",
                      f"lost: {place.lost}" if place.lost else "ok")
    _print(table)
    if bench is None:
        return
    plan = Table(box=None, title=f"{bench.path}: where its jobs would run"
                 + (" (--farm)" if spread else ""))
    for name in ("board", "definition", "jobs", "places", "note"):
        plan.add_column(name, no_wrap=name != "note")
    for a in plan_on_farm(bench, places, spread):
        plan.add_row(a.board, a.definition, str(a.jobs), ", ".join(a.places) or "–", a.note)
    _print(plan)


def _print(table: Table) -> None:
    (out if out.is_terminal else Console(width=WIDE, soft_wrap=True, markup=False)).print(table)
