"""`python -m bench.startup`: seconds from spawning `python -m chain429` to its first /health 200.

A figure, not a test: the e2e suite only checks that /health answers. Runs the proxy a few
times with a minimal config (no upstream is called) and prints each figure and the median.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.procs import ROOT, free_port

CONFIG = """\
version: 1
settings: {{api_keys: ["bench-proxy-key"], database_url: "{db}"}}
providers:
  - {{id: up, type: openai-compatible, base_url: "http://127.0.0.1:9/v1", api_key: "sk-x"}}
chains:
  - {{name: default, entries: [{{provider: up, model: m}}]}}
"""


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def spawn_to_healthy(config: Path, timeout_s: float = 30.0) -> float:
    """One start: seconds until /health answers 200 (polled every 5 ms); the proxy is stopped."""
    port = free_port()
    argv = [sys.executable, "-m", "chain429", "-c", str(config), "-p", str(port)]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < timeout_s:
            if _healthy(port):
                return time.perf_counter() - started
            if proc.poll() is not None:
                raise RuntimeError(f"429chain exited with {proc.returncode}")
            time.sleep(0.005)
        raise RuntimeError(f"429chain was not healthy within {timeout_s:g}s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=5)
    opts = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="429chain-startup-") as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(CONFIG.format(db=Path(tmp) / "log.db"))
        figures = [spawn_to_healthy(config) for _ in range(opts.runs)]
    shown = " ".join(f"{f * 1000:.0f}" for f in figures)
    print(f"spawn -> /health 200: median {statistics.median(figures) * 1000:.0f} ms ({shown} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
