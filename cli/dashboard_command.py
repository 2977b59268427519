"""``rqvae dashboard``: the Streamlit dashboard with its safe settings, from any working folder.

``streamlit run dashboard/app.py`` reads ``.streamlit/config.toml`` only when started from the
repository root; from anywhere else it would send usage statistics, serve every network
interface and ask a web service for the machine's external IP. This command passes those
settings on the command line instead, so they hold wherever it is started:

- ``--server.address HOST`` (default 127.0.0.1): serve this machine only. Setting the address
  also stops Streamlit from looking up the external IP when it prints its URL.
- ``--browser.gatherUsageStats false``: no usage statistics.
- ``--server.headless true``: never try to open a browser.
- ``--server.fileWatcherType none``: run folders change while training; the app re-reads
  files by their modification times, not through a watcher.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from dashboard.serving import HOST_ENV

APP_PATH = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def streamlit_argv(runs_dir: Path, host: str, port: int) -> list[str]:
    """The full command line that starts the dashboard over ``runs_dir`` on ``host:port``."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--browser.serverAddress", host,
        "--client.toolbarMode", "minimal",
        "--theme.base", "light",
        "--", "--runs-dir", str(runs_dir),
    ]  # fmt: skip


@click.command()
@click.option(
    "--runs-dir",
    default="runs",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder of run folders; the dashboard opens nothing outside it.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", default=8501, show_default=True, type=click.IntRange(1, 65535))
def dashboard(runs_dir, host, port):
    """Serve the dashboard on HOST:PORT (localhost only, no usage statistics)."""
    runs_dir = Path(runs_dir).expanduser().resolve()
    click.echo(f"dashboard over {runs_dir} on http://{host}:{port}", err=True)
    argv = streamlit_argv(runs_dir, host, port)
    # the app compares its address with this: a --host chosen here is no reason for a banner
    environment = {**os.environ, HOST_ENV: host}
    # Streamlit takes over the process: Ctrl-C and signals reach it directly.
    os.execve(argv[0], argv, environment)


COMMANDS = [dashboard]
