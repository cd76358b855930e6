"""Tables for the terminal: rich with colours in a TTY, plain aligned text when piped."""

from __future__ import annotations

import sys
from typing import TextIO


def print_table(title: str, columns: list[str], rows: list[list[str]],
                styles: list[dict[int, str]] | None = None, *, out: TextIO | None = None) -> None:
    """Print `rows` under `columns`; `styles[i]` maps a column index to a rich style for row i.

    In a terminal this is a rich table with colours; otherwise (a pipe, a file) plain text
    columns separated by two spaces, no colour codes and no box drawing.
    """
    out = out or sys.stdout
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
