"""``rqvae dashboard`` from another working folder: localhost only, no external-IP lookup,
no usage statistics (issue 8, finding 7)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from cli.dashboard_command import streamlit_argv
from tests.dashboard.browser import free_port

REPO = Path(__file__).resolve().parents[2]
LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


def listening_addresses(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp{,6}) listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == LISTEN:
                found.append(address)
    return found


def wait_healthy(url: str, server: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, server.communicate()
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.25)
    raise AssertionError(f"{url} did not become healthy")


def test_dashboard_from_another_folder_binds_localhost_only(tmp_path):
    port = free_port()
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "dashboard", "--runs-dir", "runs", "--port", str(port)],
        cwd=tmp_path,  # not the repository: .streamlit/config.toml does not apply here
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server)
        assert listening_addresses(port) == ["0100007F"]  # 127.0.0.1, nothing else
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            page = response.read().decode()
        assert "fonts.gstatic.com" not in page and "googleapis" not in page
        command = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
        assert b"--browser.gatherUsageStats" in command
        assert command[command.index(b"--browser.gatherUsageStats") + 1] == b"false"
        assert str(tmp_path / "runs").encode() in command  # resolved against the caller's folder
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "External URL" not in output and "Network URL" not in output


def test_streamlit_argv_carries_the_safe_settings(tmp_path):
    argv = streamlit_argv(tmp_path, "127.0.0.1", 8600)
    settings = dict(zip(argv[5:-3:2], argv[6:-3:2], strict=True))
    assert settings["--server.address"] == "127.0.0.1"
    assert settings["--server.headless"] == "true"
    assert settings["--browser.gatherUsageStats"] == "false"
    assert argv[-3:] == ["--", "--runs-dir", str(tmp_path)]
