"""The report's building blocks: a :class:`Block` is an HTML snippet or a plotly figure;
:func:`text`, :func:`heading`, :func:`table` and :func:`unavailable` make them.

Every section module (:mod:`analysis.presentation.report_sections` and the sections kept
apart from it: literature, growth, probe, study) builds on these, so none of them imports
another to get them.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from analysis.diagnosis.results import Unavailable
from analysis.presentation.columns import column, format_value
from analysis.presentation.report_markup import breakable

MAX_TABLE_ROWS = 20
# Widest table printed in one piece: nine columns of 4-digit numbers fit an A4 page at the
# report's print font (checked by rendering the PDF); wider frames are split.
MAX_TABLE_COLUMNS = 9


@dataclass
class Block:
    """One piece of the report: ``html`` text, or a ``figure`` (exactly one of the two)."""

    html: str | None = None
    figure: go.Figure | None = None


def text(markup: str) -> Block:
    return Block(html=markup)


def table(frame: pd.DataFrame, max_rows: int = MAX_TABLE_ROWS, caption: str | None = None):
    """A DataFrame as an HTML table: columns under their readable labels with units
    (:func:`analysis.presentation.columns.column`), numbers in each column's format, "–" for
    a missing value; values escaped.

    A frame wider than :data:`MAX_TABLE_COLUMNS` columns is split into several tables of at
    most that many, each repeating the first column (the level, run or key the row is about),
    so that no table is wider than a printed page; long names and paths may break after
    ``/ _ . - , >`` (:func:`~analysis.presentation.report_markup.breakable`).
    """
    shown = frame.head(max_rows)
    names = list(shown.columns)
    parts = [list(range(len(names)))]
    if len(names) > MAX_TABLE_COLUMNS:
        width = MAX_TABLE_COLUMNS - 1
        parts = [
            [0, *range(start, min(start + width, len(names)))]
            for start in range(1, len(names), width)
        ]
    cells = pd.DataFrame(
        [[breakable(format_value(v, column(name).kind)) for v in shown[name]] for name in names]
    ).T
    cells.columns = [breakable(column(name).label) for name in names]
    markup = "".join(
        cells.iloc[:, part].to_html(index=False, border=0, classes="data", escape=False)
        for part in parts
    )
    note = (
        f"<p class='note'>first {max_rows} of {len(frame)} rows</p>"
        if len(frame) > max_rows
        else ""
    )
    head = f"<p class='caption'>{html.escape(caption)}</p>" if caption else ""
    return Block(html=head + markup + note)


def heading(level: int, title: str, anchor: str | None = None) -> Block:
    attribute = f" id='{html.escape(anchor)}'" if anchor else ""
    return Block(html=f"<h{level}{attribute}>{html.escape(title)}</h{level}>")


def unavailable(result: Unavailable) -> Block:
    return Block(html=f"<p class='unavailable'>unavailable: {html.escape(result.reason)}</p>")
