"""Plain-text tables that fit the terminal: columns shrink (a cell is cut with ``…``,
never wrapped), the widest shrinkable one first. Stdlib only (the fast path prints them).
"""

from __future__ import annotations

import os
import sys

_GAP = "  "
_COLORS = {  # SGR colours of states, as the rich console used to show them
    "starting": "36", "idle": "32", "running": "33", "waiting_permission": "35",
    "exited": "2", "error": "31", "stopped": "2",
}


class Column:
    """One column: its header; the narrowest it may be cut to (0: never cut); which
    shrinks first when a line is too wide (the lowest ``order``); where a cell loses
    characters (``end``, ``start`` for paths, ``middle`` for names); ``drop``: when even
    every column at its narrowest is too wide, the columns with a ``drop`` go, the lowest
    first (0: never). A plain class: dataclasses would cost the fast path ~60 imports."""

    __slots__ = ("header", "min", "order", "cut", "right_align", "drop")

    def __init__(self, header: str, min: int = 0, order: int = 9, cut: str = "end",
                 right_align: bool = False, drop: int = 0) -> None:
        self.header = header
        self.min = min
        self.order = order
        self.cut = cut
        self.right_align = right_align
        self.drop = drop


def width() -> int:
    """The terminal's columns (``COLUMNS`` first); 80 when it is not a terminal."""
    try:
        return int(os.environ.get("COLUMNS") or os.get_terminal_size(sys.stdout.fileno())[0])
    except (OSError, ValueError):
        return 80


def color_enabled() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def cut(text: str, size: int, where: str = "end") -> str:
    """``text`` in at most ``size`` characters, ``…`` marking what was cut (at the end,
    the start, or the middle, which keeps a name's distinguishing ends)."""
    if len(text) <= size:
        return text
    if size <= 1:
        return "…"[:size]
    if where == "start":
        return "…" + text[-(size - 1):]
    if where == "middle":
        head = (size - 1 + 1) // 2
        return text[:head] + "…" + text[len(text) - (size - 1 - head):]
    return text[: size - 1] + "…"


def table(
    columns: list[Column], rows: list[list[str]], cols: int | None = None,
    color: bool = False,
) -> str:
    """Rows under a header line, each line at most ``cols`` wide (unless the columns'
    minimum widths alone are wider). Cells are one line; ``color`` paints states."""
    cols = cols or width()
    rows = [[" ".join(cell.split()) for cell in row] for row in rows]
    columns, rows = _dropped(columns, rows, cols)
    widths = [max([len(c.header)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    total = sum(widths) + len(_GAP) * (len(columns) - 1)
    least = [max(c.min, len(c.header)) if c.min else 0 for c in columns]  # headers stay whole
    while total > cols:
        shrinkable = [i for i, c in enumerate(columns) if c.min and widths[i] > least[i]]
        if not shrinkable:
            break
        first = min(columns[i].order for i in shrinkable)
        widths[max((i for i in shrinkable if columns[i].order == first),
                   key=lambda i: widths[i] - least[i])] -= 1
        total -= 1
    lines = [_line([c.header for c in columns], columns, widths, False)]
    lines += [_line(row, columns, widths, color) for row in rows]
    return "\n".join(lines)


def _dropped(
    columns: list[Column], rows: list[list[str]], cols: int
) -> tuple[list[Column], list[list[str]]]:
    """The columns (and cells) left once droppable ones went, lowest ``drop`` first,
    until every column at its narrowest fits ``cols``."""
    def narrowest(i: int) -> int:
        c = columns[i]
        full = max([len(c.header)] + [len(r[i]) for r in rows])
        return min(full, max(c.min, len(c.header))) if c.min else full

    keep = list(range(len(columns)))
    order = sorted((c.drop, i) for i, c in enumerate(columns) if c.drop)
    while order and sum(narrowest(i) for i in keep) + len(_GAP) * (len(keep) - 1) > cols:
        keep.remove(order.pop(0)[1])
    if len(keep) == len(columns):
        return columns, rows
    return [columns[i] for i in keep], [[r[i] for i in keep] for r in rows]


def _line(cells: list[str], columns: list[Column], widths: list[int], color: bool) -> str:
    out = []
    last = len(cells) - 1
    for i, (cell, column, size) in enumerate(zip(cells, columns, widths, strict=True)):
        text = cut(cell, size, column.cut)
        pad = size - len(text)
        if column.right_align:
            text = " " * pad + text
        elif i < last:
            text = text + " " * pad
        if color and cell in _COLORS:
            text = text.replace(cell, f"\x1b[{_COLORS[cell]}m{cell}\x1b[0m", 1)
        out.append(text)
    return _GAP.join(out).rstrip()
