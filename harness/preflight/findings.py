"""What pre-flight reports: findings that name the file and the field, like ConfigError."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from harness.errors import ConfigError, HarnessError

Level = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Finding:
    """An error stops the run; a warning is printed and the run goes on; a note says what was
    not checked, or what the run will skip."""

    level: Level
    path: str     # the bench file
    field: str    # e.g. "monitors[0].params.noise"
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.field}" if self.field else self.path
        return f"{where}: {self.message}"


class PreflightError(ConfigError):
    """Pre-flight found errors; carries all of them, not only the first."""

    def __init__(self, errors: list[Finding]) -> None:
        first = errors[0]
        if len(errors) == 1:
            super().__init__(first.path, first.field, first.message)
        else:
            self.path, self.field = first.path, ""
            self.message = f"{len(errors)} problems:\n" + "\n".join(f"  {e}" for e in errors)
            HarnessError.__init__(self, f"{first.path}: {self.message}")
        self.findings = errors


def raise_on_errors(findings: Iterable[Finding]) -> list[Finding]:
    """Raise `PreflightError` when any finding is an error; else return the findings."""
    findings = list(findings)
    errors = [f for f in findings if f.level == "error"]
    if errors:
        raise PreflightError(errors)
    return findings
