"""Messages printed literally: an error carries paths, brackets and the user's own text
(a YAML key, an instrument's answer), which rich must never read as markup: "[bold]"
would vanish and "[/]" would raise instead of printing."""

from __future__ import annotations

from rich.text import Text


def labelled(label: str, style: str, message: str) -> Text:
    """``label`` in ``style``, a space, then ``message`` exactly as given."""
    return Text.assemble((label, style), " ", message)
