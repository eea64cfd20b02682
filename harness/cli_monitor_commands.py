"""`harness monitors`: the power monitors each backend can see connected."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.cli_json import json_option, monitors_document, print_json
from harness.power.monitor import discover_monitors

out = Console(soft_wrap=True)  # resources are what users copy into bench files: never cut


@click.command()
@json_option
def monitors(as_json: bool) -> None:
    """List connected power monitors, and why a backend could not look.

    SCPI instruments on a raw LAN socket cannot be enumerated: name them in
    $HARNESS_VISA_RESOURCES (comma-separated VISA resources); $HARNESS_VISA_BACKEND
    picks the pyvisa backend (e.g. @py).
    """
    found, problems = discover_monitors()
    if as_json:
        print_json(monitors_document(found, problems))
        return
    if found:
        table = Table(box=None)
        for name in ("backend", "resource"):
            table.add_column(name, no_wrap=True)
        table.add_column("instrument", min_width=20)
        for monitor in sorted(found, key=lambda m: (m.backend, m.resource)):
            # what instruments and vendor libraries say is text, never markup
            table.add_row(monitor.backend, Text(monitor.resource), Text(monitor.description))
        out.print(table)
    else:
        out.print("no power monitors found")
    if problems:
        out.print("\n[bold]backends that could not look:[/]")
        table = Table(box=None)
        table.add_column("backend", no_wrap=True)
        table.add_column("problem", min_width=20)
        for backend, problem in sorted(problems.items()):
            table.add_row(backend, Text(problem))
        out.print(table)
