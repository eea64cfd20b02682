"""Model cards a run may carry in ``cards/*.json`` (written when variants are made)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.report.tables import Cell, Column, Table

CARD_FIELDS = ("model", "variant", "file_bytes", "gzip_bytes", "params", "nonzero_params",
               "macs_total", "arena_bytes")


@dataclass(frozen=True)
class Card:
    values: dict[str, object]          # CARD_FIELDS present in the file
    accuracy_metric: str
    accuracy_tflite: float | None
    accuracy_tflm: float | None

    def get(self, name: str) -> object:
        return self.values.get(name)


class CardError(HarnessError):
    """A model card in a run directory cannot be read."""


def load_cards(run_dir: Path) -> list[Card]:
    cards = []
    for path in sorted((run_dir / "cards").glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CardError(f"{path}: not a readable JSON model card: {exc}") from exc
        if not isinstance(data, dict) or "model" not in data or "variant" not in data:
            raise CardError(f"{path}: a model card needs at least 'model' and 'variant'")
        accuracy = data.get("accuracy") or {}
        cards.append(Card({k: data[k] for k in CARD_FIELDS if k in data},
                          str(accuracy.get("metric", "")), accuracy.get("tflite"),
                          accuracy.get("tflm")))
    return cards


def cards_table(cards: list[Card]) -> Table:
    """The 'Variants' section: what each variant is, from its card (not measured on a board)."""
    table = Table("Variants: model cards", [
        Column("model", "Model"), Column("variant", "Variant"),
        Column("file_bytes", "File B", True), Column("gzip_bytes", "gzip B", True),
        Column("params", "Params", True), Column("nonzero_params", "Non-zero params", True),
        Column("macs_total", "MACs", True), Column("arena_bytes", "Arena B", True),
        Column("accuracy_metric", "Accuracy metric"), Column("accuracy_tflite", "TFLite", True),
        Column("accuracy_tflm", "TFLM", True)])
    for card in cards:
        row = {name: _cell(card.get(name)) for name in CARD_FIELDS}
        row |= {"accuracy_metric": Cell(card.accuracy_metric or "–"),
                "accuracy_tflite": _cell(card.accuracy_tflite, 4),
                "accuracy_tflm": _cell(card.accuracy_tflm, 4)}
        table.rows.append(row)
    table.source = "host TFLite and TFLM runtimes"
    return table


def _cell(value: object, digits: int = 0) -> Cell:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Cell(f"{value:,.{digits}f}", value)
    return Cell("–" if value is None else str(value), "" if value is None else str(value))
