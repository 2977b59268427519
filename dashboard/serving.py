"""Is the dashboard served the safe way? ``rqvae dashboard`` is; plain ``streamlit run`` may not be.

``streamlit run dashboard/app.py`` reads ``.streamlit/config.toml`` only from the folder it is
started in: from anywhere else Streamlit listens on every network interface and sends usage
statistics. ``rqvae dashboard`` passes the safe settings on its command line and tells the app
which address it chose (:data:`HOST_ENV`), so a deliberate ``--host 0.0.0.0`` is not a problem.
The app shows :func:`serving_problems` as a banner at the top of every page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

HOST_ENV = "RQVAE_DASHBOARD_HOST"  # set by `rqvae dashboard` to its --host
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serving_problems(get_option: Callable[[str], Any], environ: Mapping[str, str]) -> list[str]:
    """What is unsafe about how this server was started, in words ([] when nothing is).

    ``get_option``: ``st.get_option``; ``environ``: ``os.environ``."""
    problems = []
    address, chosen = get_option("server.address"), environ.get(HOST_ENV)
    if address not in LOOPBACK and (chosen is None or address != chosen):
        where = f"address {address}" if address else "every network interface"
        problems.append(f"it accepts connections on {where}")
    if get_option("browser.gatherUsageStats"):
        problems.append("it sends usage statistics to Streamlit")
    return problems


def banner(problems: list[str]) -> str:
    """The banner's markdown for :func:`serving_problems`' answer."""
    return (
        "**This dashboard was not started with `rqvae dashboard`**, and without its settings "
        f"{' and '.join(problems)}. Stop it and run `rqvae dashboard [--runs-dir DIR]` instead "
        "(localhost only, no usage statistics, from any folder)."
    )
