"""The `harness` command line: parse, call the library, print. No logic here."""

from __future__ import annotations

import logging
import sys

import click
from rich.console import Console
from rich.logging import RichHandler

from harness import __version__
from harness.cli_text import labelled
from harness.errors import ConfigError, HarnessError

# An error names a path: never wrap it; nor read it as markup (cli_text.py).
console = Console(stderr=True, soft_wrap=True, markup=False)


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    handler: logging.Handler
    if console.is_terminal:
        handler = RichHandler(console=console, show_path=False)
    else:  # CI logs: plain, timestamped lines
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


class HarnessGroup(click.Group):
    """Turn harness errors into one clear line and a non-zero exit."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            console.print(labelled("error:", "bold red", str(exc)))
            sys.exit(2)
        except HarnessError as exc:
            console.print(labelled("error:", "bold red", str(exc)))
            sys.exit(1)


@click.group(cls=HarnessGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Benchmark TinyML models on microcontroller boards: accuracy, latency, Joules/inference.

    Start with `harness check BENCH.yaml`, then `harness run BENCH.yaml`.
    """
    _setup_logging(verbose)


from harness.cli_commands import boards, check, run  # noqa: E402  (registers commands)
from harness.cli_firmware_commands import build, flash  # noqa: E402
from harness.cli_report_commands import compare, history, report  # noqa: E402

for command in (run, check, boards, report, history, compare, build, flash):
    main.add_command(command)
main.add_command(__import__("harness.cli_compress_commands", fromlist=["compress"]).compress)
main.add_command(__import__("harness.cli_monitor_commands", fromlist=["monitors"]).monitors)
main.add_command(__import__("harness.cli_submission_commands",
                            fromlist=["submission"]).submission)
