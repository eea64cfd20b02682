"""The `harness` command line: parse, call the library, print. No logic here."""

from __future__ import annotations

import logging
import signal
import sys

import click
from rich.console import Console
from rich.logging import RichHandler

from harness import __version__
from harness.cli_text import labelled
from harness.errors import ConfigError, ExitCode, HarnessError
from harness.interrupts import signal_of, stop_signals_interrupt

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
    """Turn harness errors into one clear line and an exit code (`ExitCode`); SIGTERM
    stops every command as Ctrl-C does (harness/interrupts.py)."""

    def invoke(self, ctx: click.Context):
        try:
            with stop_signals_interrupt():
                return super().invoke(ctx)
        except KeyboardInterrupt as exc:   # the clean-up (places released) has run
            signum = signal_of(exc)
            code = ExitCode.TERMINATED if signum == signal.SIGTERM else ExitCode.INTERRUPTED
            console.print(labelled("stopped:", "bold red",
                                   f"{signal.Signals(signum).name} (exit {int(code)})"))
            sys.exit(code)
        except ConfigError as exc:
            console.print(labelled("error:", "bold red", str(exc)))
            sys.exit(ExitCode.CONFIG)
        except HarnessError as exc:
            console.print(labelled("error:", "bold red", str(exc)))
            sys.exit(ExitCode.ERROR)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        # -v also after the subcommand: `harness run -v BENCH` as `harness -v run BENCH`
        cmd.params.append(click.Option(["-v", "--verbose"], count=True, expose_value=False,
                                       callback=_more_verbose, is_eager=True,
                                       help="More log output (-v info, -vv debug)."))
        super().add_command(cmd, name)


def _more_verbose(ctx: click.Context, _param: click.Parameter, count: int) -> None:
    if count:
        root = ctx.find_root()
        root.meta["verbose"] = root.meta.get("verbose", 0) + count
        _setup_logging(root.meta["verbose"])


@click.group(cls=HarnessGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
@click.option("-v", "--verbose", count=True,
              help="More log output (-v info, -vv debug); also after the command.")
@click.pass_context
def main(ctx: click.Context, verbose: int) -> None:
    """Benchmark TinyML models on microcontroller boards: accuracy, latency, Joules/inference.

    Start with `harness check BENCH.yaml`, then `harness run BENCH.yaml`. Exit codes:
    0 ok, 1 error, 2 bad command line, bench or board file, 3 a job failed, 4 a
    regression against the baseline, 130 Ctrl-C, 143 SIGTERM (a run is then resumable).
    """
    ctx.meta["verbose"] = verbose
    _setup_logging(verbose)


from harness.cli_commands import boards, check, run  # noqa: E402  (registers commands)
from harness.cli_estimate_commands import calibrate, estimate  # noqa: E402
from harness.cli_firmware_commands import build, flash  # noqa: E402
from harness.cli_report_commands import compare, history, report  # noqa: E402

for command in (run, check, boards, report, history, compare, build, flash, estimate, calibrate):
    main.add_command(command)
main.add_command(__import__("harness.cli_compress_commands", fromlist=["compress"]).compress)
main.add_command(__import__("harness.cli_study_commands", fromlist=["study"]).study)
main.add_command(__import__("harness.cli_monitor_commands", fromlist=["monitors"]).monitors)
main.add_command(__import__("harness.cli_submission_commands",
                            fromlist=["submission"]).submission)
main.add_command(__import__("harness.cli_farm_commands", fromlist=["farm"]).farm)
