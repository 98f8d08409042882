"""Child processes for the benchmark: start pinned to a CPU, wait until healthy, read CPU time."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

ROOT = Path(__file__).resolve().parent.parent
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pin_self(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def core_busy_seconds(cpu: int) -> float:
    """Time one CPU spent not idle (all processes, interrupts and hypervisor steal), from /proc."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            ticks = [int(n) for n in line.split()[1:]]
            idle = ticks[3] + ticks[4]  # idle, iowait
            return (sum(ticks[:8]) - idle) / _TICKS  # guest time is already in user
    raise ValueError(f"no CPU {cpu} in /proc/stat")


class Child:
    """A server subprocess, pinned to `cpu`, logging to a file; a context manager that stops it."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cpu: int | None,
        log_dir: Path,
        wrapper: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        command = [*wrapper, sys.executable, *argv]  # wrapper: a tool that runs it (valgrind)
        use_taskset = cpu is not None and shutil.which("taskset") is not None
        if use_taskset:
            command = ["taskset", "-c", str(cpu), *command]
        self._log: IO[bytes] = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=None if use_taskset or cpu is None else lambda: pin_self(cpu),
        )

    @property
    def pid(self) -> int:
        return self.proc.pid  # taskset execs the program, so this is the server itself

    def log_tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def wait_healthy(
        self,
        port: int,
        path: str = "/health",
        timeout_s: float = 20.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", path, headers=dict(headers or {}))
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} was not healthy after {timeout_s:g}s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
