"""The workbench dashboard. Start it with ``rqvae dashboard [--runs-dir DIR]``.

``rqvae dashboard`` serves this file with the safe Streamlit settings (localhost only, no usage
statistics) from any working folder; a plain ``streamlit run dashboard/app.py`` started outside
the repository gets neither, and every page then opens with a banner saying so
(:mod:`dashboard.serving`).

This file only sets up the page, the runs root, the session-state defaults, the shared run
picker in the sidebar and the navigation. Each page is one file in ``app_pages/``; loading is in
``data.py`` and every number comes from ``analysis/``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the repository root.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import streamlit as st  # noqa: E402

from dashboard import data, session  # noqa: E402
from dashboard.markup import code  # noqa: E402
from dashboard.paths import run_path, runs_root_from  # noqa: E402
from dashboard.serving import banner, serving_problems  # noqa: E402

PAGES_DIR = Path(__file__).resolve().parent / "app_pages"
# A file shipped with the package: an emoji or material icon would be fetched from a CDN.
ICON_PATH = Path(__file__).resolve().parent / "icon.png"

st.set_page_config(page_title="RQ-VAE workbench", page_icon=str(ICON_PATH), layout="wide")
problems = serving_problems(st.get_option, os.environ)
if problems:
    st.error(banner(problems), icon=":material/gpp_bad:")
data.start_umap_import()  # in the background: the Codeword map then finds it loaded

runs_root = runs_root_from(sys.argv[1:], os.environ)
run_names = data.run_names(runs_root)
# Broken runs are never picked for the visitor; run_path keeps even this look inside the root.
usable = [
    name for name in run_names if data.run_overview(run_path(runs_root, name)).problem is None
]
session.set_defaults(runs_root, run_names, default_picks=usable[:2])

with st.sidebar:
    st.caption(f"Runs folder: {code(runs_root)}")
    st.multiselect(
        "Runs to look at",
        options=run_names,
        key=session.SELECTED_RUNS,
        placeholder="Pick one or more runs",
        help="Pages that compare runs use all of these; single-run pages show the one below.",
    )
    st.selectbox(
        "Run shown on single-run pages",
        options=session.selected_runs(),
        key=session.FOCUS_RUN,
        placeholder="Pick runs above first",
    )


def page(file_name: str, title: str, icon: str, default: bool = False) -> st.Page:
    return st.Page(PAGES_DIR / file_name, title=title, icon=icon, default=default)


navigation = st.navigation(
    {
        "Overview": [page("runs.py", "Runs", ":material/list:", default=True)],
        "One run": [
            page("codebooks.py", "Codebooks", ":material/bar_chart:"),
            page("ids_collisions.py", "IDs and collisions", ":material/fingerprint:"),
            page("residuals.py", "Residuals", ":material/stacked_line_chart:"),
            page("codeword_map.py", "Codeword map", ":material/scatter_plot:"),
            page("taxonomy.py", "Taxonomy", ":material/account_tree:"),
            page("mahalanobis.py", "Euclidean vs Mahalanobis", ":material/compare_arrows:"),
            page("embeddings_behaviour.py", "Embeddings and behaviour", ":material/group:"),
        ],
        "Across runs": [
            page("scorecard.py", "Scorecard", ":material/leaderboard:"),
            page("training_comparison.py", "Training and comparison", ":material/show_chart:"),
            page("probe.py", "Downstream probe", ":material/recommend:"),
            page("study.py", "What predicts recall", ":material/science:"),
            page("report.py", "Report", ":material/download:"),
        ],
    },
    # 13 pages: collapsed, Streamlit would hide the last ones behind "View more"
    expanded=True,
)
navigation.run()
