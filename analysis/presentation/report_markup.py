"""HTML pieces of the report that must fit a printed page: breakable long words, the findings
table with each finding's advice and evidence page.

Kept apart from :mod:`analysis.presentation.report_sections` (which lays the sections out) so
that the table of the run comparison (:mod:`analysis.presentation.report_comparison`) and the
sections use the same helpers without importing each other.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from analysis.metrics.health import Finding

_BREAK_AFTER = re.compile(r"([/_.,>\-])(?=\w)")


def breakable(text: str, longest: int = 24) -> str:
    """``text`` escaped, with ``<wbr>`` (a line-break opportunity that copies as nothing)
    after ``/ _ . , > -`` inside words longer than ``longest`` characters, so a long path or
    run name wraps instead of widening its table past the page."""
    return " ".join(
        _BREAK_AFTER.sub(r"\1<wbr>", html.escape(word))
        if len(word) > longest
        else html.escape(word)
        for word in text.split(" ")
    )


def advice_html(advice: str) -> str:
    """Advice text with its `code spans` as ``<code>``, everything escaped."""
    parts = advice.split("`")
    return "".join(
        f"<code>{breakable(part)}</code>" if odd % 2 else breakable(part)
        for odd, part in enumerate(parts)
    )


def findings_html(findings: Sequence[Finding], caption: str | None = None) -> str:
    """Every finding as one row: severity, level, message, what to do, value, threshold and
    the dashboard page with its evidence (in the order given)."""
    rows = []
    for f in findings:
        number = "" if f.value is None else f"{f.value:.4g}"
        bound = "" if f.threshold is None else f"{f.threshold:.4g}"
        rows.append(
            f"<tr><td><span class='badge {f.severity}'>{f.severity}</span></td>"
            f"<td>{'' if f.level is None else f.level}</td>"
            f"<td>{breakable(f.message)}{_evidence(f.evidence)}</td>"
            f"<td>{advice_html(f.advice)}</td>"
            f"<td>{number}</td><td>{bound}</td><td>{html.escape(f.page)}</td></tr>"
        )
    head = f"<p class='caption'>{html.escape(caption)}</p>" if caption else ""
    return (
        head + "<table class='data findings'><tr><th>severity</th><th>level</th>"
        "<th>finding</th><th>what to do</th><th>value</th><th>threshold</th>"
        "<th>evidence (dashboard page)</th></tr>" + "".join(rows) + "</table>"
    )


def _evidence(evidence: str) -> str:
    """A finding's study evidence under its message (empty without a study)."""
    if not evidence:
        return ""
    return f"<br><span class='caption'>study: {html.escape(evidence)}</span>"
