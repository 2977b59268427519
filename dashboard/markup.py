"""User strings are text, never markup: escaping for every string Streamlit renders as markdown.

``st.markdown``, ``st.caption``, ``st.title``, alerts, widget labels and progress texts render
markdown, so a run folder named ``x ![p](https://example.invalid/)`` would make the browser
fetch that URL, and a backtick in a name would close a code span. Every string that comes from
a file or a user (run names, paths, titles, categories, item ids, queries, error messages) goes
through :func:`plain` (running text) or :func:`code` (inside a code span) before it is put into
markdown.
"""

from __future__ import annotations

import re

# The characters that open markdown constructs: links and images ("[" "]"), code spans ("`"),
# HTML and autolinks ("<" ">"), emphasis and strike-through ("*" "~"), LaTeX ("$"), headings
# and tables ("#" "|"), and the escape itself. An underscore inside a word ("semantic_ids") is
# never emphasis, so names stay readable. A colon before a non-space starts a directive
# (Streamlit's ":red[...]", ":material/x:"; remark-directive reads ":red" even when the
# bracket is escaped) and, in "https://", a bare-URL autolink, inside which escapes are shown
# literally (the stray backslash); "www." and "@" start the other autolinks (GFM). "error: x"
# keeps its colon unescaped.
_SPECIAL = re.compile(
    r"([\\`*\[\]<>$~#|@]|:(?=\S)|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|(?<=www)\.)", re.IGNORECASE
)


def plain(text: object) -> str:
    """``text`` as markdown that renders as exactly those characters: no links, images, emphasis,
    HTML or LaTeX. Line breaks become spaces (a message is one line)."""
    flat = " ".join(str(text).splitlines())
    return _SPECIAL.sub(r"\\\1", flat)


def code(text: object) -> str:
    """``text`` as an inline code span that no backtick inside it can close.

    CommonMark: a span opened by N backticks closes only at a run of exactly N, so the fence is
    one longer than the longest run inside; the padding spaces are stripped when rendered.
    """
    flat = " ".join(str(text).splitlines())
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {flat} {fence}"


def with_code_spans(text: object) -> str:
    """``text`` whose `backtick spans` (flags, commands) render as code and everything else as
    :func:`plain` text: for the advice and conclusions analysis writes, which name flags."""
    parts = re.split(r"`([^`]*)`", " ".join(str(text).splitlines()))
    return "".join(code(part) if odd else plain(part) for odd, part in enumerate(parts) if part)
