"""Documentation equals the code: every `harness …` command line in README.md and docs/*.md
names a command and options the CLI has, and every repository path they name exists."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import click
import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?$(.*?)^```", re.M | re.S)
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
TOP_FOLDERS = ("harness", "docs", "tests", "examples", "boards", "firmware", "benchmarks")


def _command_lines(text: str) -> list[str]:
    """``harness …`` lines of code blocks (continuations joined, comments cut) and inline
    code spans that start with ``harness ``."""
    found = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("harness ") or line == "harness":
                found.append(line.split(" #", 1)[0])
    prose = FENCE.sub("", text)
    found += [span for span in INLINE.findall(prose) if span.startswith("harness ")]
    return found


def _uses() -> list[tuple[str, str]]:
    return [(f"{doc.relative_to(ROOT)}: {line}", line)
            for doc in DOCS for line in _command_lines(doc.read_text(encoding="utf-8"))]


def _options(command: click.Command) -> set[str]:
    return {name for p in command.params if isinstance(p, click.Option)
            for name in (*p.opts, *p.secondary_opts)} | {"-h", "--help"}


def _problems(line: str) -> list[str]:
    tokens = [t for t in shlex.split(line)[1:] if t not in ("…", "...")]
    group = _options(main)
    while tokens and tokens[0].startswith("-"):
        if tokens[0] not in group:
            return [f"harness has no option {tokens[0]}"]
        tokens.pop(0)
    if not tokens:
        return []
    name, *rest = tokens
    command = main.commands.get(name)
    if command is None:
        return [f"no command {name!r} (commands: {', '.join(sorted(main.commands))})"]
    known = _options(command)
    return [f"`harness {name}` has no option {token.split('=')[0]}" for token in rest
            if token.startswith("-") and token.split("=")[0] not in known]


@pytest.mark.parametrize(("where", "line"), _uses(), ids=lambda value: value[:70])
def test_each_documented_command_line_is_one_the_cli_takes(where: str, line: str) -> None:
    assert _problems(line) == [], where


def test_the_docs_name_commands_at_all() -> None:
    """Guard the extraction itself: the README's tour is found, and a made-up option is not
    taken for a real one."""
    lines = [line for where, line in _uses() if where.startswith("README.md")]
    assert any(line.startswith("harness run ") for line in lines)
    assert len({line.split()[1] for line in lines if len(line.split()) > 1}) >= 8
    assert _problems("harness run b.yaml --no-such-option") == [
        "`harness run` has no option --no-such-option"]
    assert _problems("harness frobnicate") != []


def _paths(text: str) -> set[str]:
    """Inline code that is a repository path (starts with a top-level folder), without
    placeholders or globs."""
    spans = INLINE.findall(FENCE.sub("", text))
    return {span.rstrip("/") for span in spans
            if span.split("/", 1)[0] in TOP_FOLDERS and "/" in span
            and not re.search(r"[<>*{}\s…]", span)}


def _made_by_a_build_or_run(path: str) -> bool:
    """Git ignores what builds and runs make (firmware/build/…, results/…). Asked also as
    a folder: a `build/` pattern matches a path that does not exist yet only so."""
    return any(subprocess.run(["git", "check-ignore", "-q", "--no-index", candidate],
                              cwd=ROOT, check=False).returncode == 0
               for candidate in (path, path + "/"))


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_each_repository_path_the_docs_name_exists(doc: Path) -> None:
    missing = sorted(p for p in _paths(doc.read_text(encoding="utf-8"))
                     if not (ROOT / p).exists() and not _made_by_a_build_or_run(p))
    assert missing == [], f"{doc.relative_to(ROOT)} names paths that do not exist"
