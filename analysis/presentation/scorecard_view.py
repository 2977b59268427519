"""The scorecard laid out: an HTML table (dashboard page and report) and a CSV export.

Rows are the headline diagnostics of :func:`analysis.diagnosis.scorecard.scorecard`, grouped
under their headings; columns are the runs, each headed by its name in its colour
(:func:`analysis.presentation.run_colours.run_colours`). Per row the best value is starred and
the direction is stated; a missing value says why, in grey.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping

import pandas as pd

from analysis.diagnosis.scorecard import Score, best_runs

MISSING_CHARACTERS = 70  # a reason longer than this is cut in the cell (the tooltip has all)
BEST_MARK = "★"

STYLE = (
    "table.scorecard { border-collapse: collapse; font-size: 0.9rem; width: 100%; }"
    "table.scorecard th, table.scorecard td { border-bottom: 1px solid #e3e3e3;"
    " padding: 5px 10px; text-align: left; vertical-align: top; }"
    "table.scorecard th.metric, table.scorecard td.metric { position: sticky; left: 0;"
    " background: #fff; min-width: 16rem; }"
    "table.scorecard tr.group td { background: #f6f6f6; font-weight: 600; }"
    "table.scorecard td.value { font-variant-numeric: tabular-nums; white-space: nowrap; }"
    "table.scorecard td.best { font-weight: 700; }"
    "table.scorecard td.missing { color: #888; font-style: italic; white-space: normal; }"
    "table.scorecard .direction { color: #777; font-size: 0.8rem; white-space: nowrap; }"
    "table.scorecard .swatch { display: inline-block; width: 0.9em; height: 0.9em;"
    " border-radius: 2px; margin-right: 0.4em; vertical-align: -0.1em; }"
)


def scorecard_html(
    cards: Mapping[str, Mapping[str, Score]],
    colours: Mapping[str, str],
    kinds: Mapping[str, str] | None = None,
) -> str:
    """One ``<table class="scorecard">`` (with its ``<style>``) of ``{run: scorecard}``.

    Each run's header cell carries ``data-run`` and ``data-colour`` and a swatch of its
    colour; each best cell the class ``best`` and a star; each missing cell the class
    ``missing`` and the reason (cut at :data:`MISSING_CHARACTERS`, whole in its tooltip).
    """
    kinds = kinds or {}
    runs = list(cards)
    best = best_runs(cards)
    head = ["<th class='metric'>headline</th>", "<th>direction</th>"]
    for run in runs:
        colour = html.escape(colours.get(run, "#888888"))
        kind = (
            f"<br><span class='direction'>{html.escape(kinds[run])}</span>" if run in kinds else ""
        )
        head.append(
            f"<th data-run='{html.escape(run)}' data-colour='{colour}' "
            f"style='border-top: 4px solid {colour}'>"
            f"<span class='swatch' style='background: {colour}'></span>"
            f"{html.escape(run)}{kind}</th>"
        )
    body, group = [], None
    for key, first in _rows(cards):
        if first.group != group:
            group = first.group
            body.append(
                f"<tr class='group'><td colspan='{len(runs) + 2}'>{html.escape(group)}</td></tr>"
            )
        label = first.label + (f" ({first.unit})" if first.unit else "")
        cells = [
            f"<td class='metric'>{html.escape(label)}</td>",
            f"<td class='direction'>{html.escape(first.direction)}</td>",
        ]
        for run in runs:
            score = cards[run].get(key)
            cells.append(_cell(score, run in best.get(key, ())))
        body.append(f"<tr data-key='{html.escape(key)}'>" + "".join(cells) + "</tr>")
    return (
        f"<style>{STYLE}</style><table class='scorecard'><thead><tr>{''.join(head)}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _rows(cards: Mapping[str, Mapping[str, Score]]):
    """(key, a Score of it) for every key of any run, in scorecard order: the run with the most
    levels first (its keys include every level's), then keys only other runs have."""
    seen: dict[str, Score] = {}
    for card in sorted(cards.values(), key=len, reverse=True):
        for key, score in card.items():
            seen.setdefault(key, score)
    return seen.items()


def _cell(score: Score | None, is_best: bool) -> str:
    if score is None:
        return "<td class='missing'>not measured for this run</td>"
    if score.value is None:
        reason = score.missing or "missing"
        shown = (
            reason if len(reason) <= MISSING_CHARACTERS else reason[: MISSING_CHARACTERS - 1] + "…"
        )
        return f"<td class='missing' title='{html.escape(reason)}'>{html.escape(shown)}</td>"
    if is_best:
        return f"<td class='value best'>{html.escape(score.text)} {BEST_MARK}</td>"
    return f"<td class='value'>{html.escape(score.text)}</td>"


def scorecard_frame(cards: Mapping[str, Mapping[str, Score]]) -> pd.DataFrame:
    """The scorecard as a table: ``key, group, headline, unit, direction, best`` (best runs,
    "; "-joined) and one column per run holding the value, or "missing: <reason>"."""
    best = best_runs(cards)
    rows = []
    for key, first in _rows(cards):
        row = {
            "key": key,
            "group": first.group,
            "headline": first.label,
            "unit": first.unit,
            "direction": first.direction,
            "best": "; ".join(best.get(key, [])),
        }
        for run, card in cards.items():
            score = card.get(key)
            if score is None:
                row[run] = "missing: not measured for this run"
            elif score.value is None:
                row[run] = f"missing: {score.missing}"
            else:
                row[run] = score.value
        rows.append(row)
    return pd.DataFrame(rows)


def scorecard_csv(cards: Mapping[str, Mapping[str, Score]]) -> bytes:
    """:func:`scorecard_frame` as UTF-8 CSV (values unrounded, for a spreadsheet)."""
    buffer = io.StringIO()
    scorecard_frame(cards).to_csv(buffer, index=False)
    return buffer.getvalue().encode()
