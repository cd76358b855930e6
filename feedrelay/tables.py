"""Text for the terminal: tables (rich with colours in a TTY, plain aligned text when piped), and
feed data made safe to print.

Titles, links, errors and warnings come from feeds and servers: an escape sequence among them
would be acted on by the terminal (set the clipboard, clear the screen, forge a link), so every
command prints such text through `terminal_text`.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but tab and newline, DEL, C1 (CSI is U+009B)


def terminal_text(text: str) -> str:
    """`text` without the control characters (escape sequences included) a terminal acts on."""
    return _CONTROLS.sub("", text)


def say(line: str = "") -> None:
    """Print a line of feed or server text: no escape sequence reaches the terminal."""
    print(terminal_text(line))


def print_table(title: str, columns: list[str], rows: list[list[str]],
                styles: list[dict[int, str]] | None = None, *, out: TextIO | None = None) -> None:
    """Print `rows` under `columns`; `styles[i]` maps a column index to a rich style for row i.

    In a terminal this is a rich table with colours; otherwise (a pipe, a file) plain text
    columns separated by two spaces, no colour codes and no box drawing.
    """
    out = out or sys.stdout
    rows = [[terminal_text(cell) for cell in row] for row in rows]  # feed and server text in cells
    if out.isatty():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for i, row in enumerate(rows):
            style = styles[i] if styles else {}
            table.add_row(*(Text(cell, style=style.get(c, "")) for c, cell in enumerate(row)))
        Console(file=out, soft_wrap=True).print(table)
        return
    widths = [max([len(column)] + [len(row[c]) for row in rows]) for c, column in enumerate(columns)]
    for row in [columns, *rows]:
        out.write("  ".join(cell.ljust(widths[c]) for c, cell in enumerate(row)).rstrip() + "\n")
