"""A real `streamlit run app.py` on a free loopback port, for the browser tests (tests/e2e) and the
bench's server scenario (tests/bench/scenarios_app.py), and the flags Debian's Chromium needs here."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"streamlit did not answer on {url} within {timeout} s")


@contextmanager
def serve(db_path: Path | str, timeout: float = 90) -> Iterator[tuple[str, subprocess.Popen]]:
    """Serve the app against ``db_path`` (no other process may hold the file; a PostgreSQL URL may
    be served by several servers at once, tests/e2e/test_two_servers.py); yields the base URL,
    e.g. http://127.0.0.1:41234, and the server process. The server's output goes to a temporary
    file (a pipe nobody reads would fill up and stall it) and is quoted if it fails to start."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ROUTINE_DESK_DB": str(db_path), "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory(prefix="rd-server-") as tmp:
        log = Path(tmp) / "server.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                 "--server.address", "127.0.0.1", "--server.headless", "true",
                 "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
            )
            try:
                _wait_healthy(url, proc, log, timeout)
                yield url, proc
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
