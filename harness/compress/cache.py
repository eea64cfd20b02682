"""Variants cached by content: a key over everything that decides the artefact.

The key hashes the source model's bytes, the variant's recipe (parameters and
seed), the dataset's reference and content, the tool versions (TensorFlow,
tfmot, tf-keras, tflite-micro) and this package's source, so a change to any of
them builds anew and nothing else does. An entry is a folder
``<cache>/variants/<model>/<variant>-<key>/`` holding ``<variant>.tflite`` and
``<variant>.card.json``; it is built in a temporary folder beside it and renamed
into place when complete, so a killed build never leaves half an entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.compress.card import CARD_SUFFIX, tool_versions
from harness.models import datasets

_PACKAGE = Path(__file__).parent


def variant_key(source_sha256: str, recipe: dict[str, Any], dataset_id: str) -> str:
    digest = hashlib.sha256(json.dumps(
        {"source": source_sha256, "recipe": recipe, "dataset": dataset_id,
         "tools": tool_versions()}, sort_keys=True).encode())
    for module in [*sorted(_PACKAGE.glob("*.py")), Path(datasets.__file__)]:
        digest.update(module.read_bytes())
    return digest.hexdigest()[:16]


def entry_dir(cache_dir: Path, model: str, variant: str, key: str) -> Path:
    return Path(cache_dir) / "variants" / model / f"{variant}-{key}"


def cached_files(entry: Path, variant: str) -> tuple[Path, Path] | None:
    """(tflite, card) of a complete entry, else None."""
    tflite, card = entry / f"{variant}.tflite", entry / f"{variant}{CARD_SUFFIX}"
    return (tflite, card) if tflite.is_file() and card.is_file() else None


@contextmanager
def publishing(entry: Path) -> Iterator[Path]:
    """A staging folder that becomes ``entry`` when the block ends without an error."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=entry.parent, prefix=f".{entry.name}-") as tmp:
        staging = Path(tmp) / "new"
        staging.mkdir()
        yield staging
        if entry.exists():  # a forced rebuild, or a concurrent build that finished first
            entry.rename(Path(tmp) / "old")
        staging.rename(entry)


def copy_atomic(src: Path, dest: Path) -> None:
    """Copy so that ``dest`` is either the old file or the whole new one."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}-")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
