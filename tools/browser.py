"""The app served the way a clinic runs it, for the browser benchmark, the load test and the browser tests:
`streamlit run app.py` on a free local port, driven by Debian's Chromium through Playwright."""

import contextlib
import os
import shutil
from pathlib import Path
from typing import NamedTuple
import socket
import subprocess
import sys
import time
import urllib.request

from skin_core import paths

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    return shutil.which("chromium") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Served(NamedTuple):
    url: str
    pid: int

    def rss_mb(self) -> float | None:
        """The server's resident memory (Linux), or None where /proc is not available."""
        status = Path(f"/proc/{self.pid}/status")
        if not status.is_file():
            return None
        line = next(row for row in status.read_text().splitlines() if row.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024


@contextlib.contextmanager
def served_app(log=subprocess.DEVNULL, environment: dict | None = None):
    """`streamlit run app.py` on a free port (its URL and process id), stopped on exit; ``environment`` adds
    to or overrides this process's environment variables (e.g. SKIN_CASES_DATABASE)."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                               "--server.port", str(port), "--server.address", "127.0.0.1"],
                              cwd=paths.REPO_DIR, stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, **(environment or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("streamlit did not start")
        yield Served(url, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
