"""Processes of the bench: spawning servers pinned to a core, reading their /proc status, and the
child side's contract (print the URL on one line, serve until stdin closes)."""
from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Optional

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
SERVER_CPU, CLIENT_CPU = 0, 1


def cpus() -> set:
    try:
        return os.sched_getaffinity(0)
    except AttributeError:
        return set()


def pin(cpu: Optional[int]) -> bool:
    """Pin this process to one core when the machine has it; False when it cannot."""
    if cpu is None or not hasattr(os, "sched_setaffinity") or cpu not in cpus() or len(cpus()) < 2:
        return False
    os.sched_setaffinity(0, {cpu})
    return True


def raise_fd_limit() -> None:
    """A thousand streams need more descriptors than the usual soft limit of 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


class Child:
    """A server process of the bench (llm_mock launcher or ceiling): its URL, port and /proc."""

    def __init__(self, script: str, *args: str, cpu: Optional[int] = SERVER_CPU):
        command = [sys.executable, os.path.join(BENCH_DIR, script), *args]
        if cpu is not None:
            command += ["--cpu", str(cpu)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO,
                                        env=child_env(), text=True)
        line = self.process.stdout.readline().strip()
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"{script} did not start: {line!r}")
        self.url = line
        self.port = int(line.rsplit(":", 1)[1])
        self.pid = self.process.pid

    def status(self) -> dict:
        return read_status(self.pid)

    def stop(self, timeout: float = 30.0) -> str:
        """Close stdin (the child's signal to stop) and return whatever it printed last."""
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            out = self.process.stdout.read()
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            out = ""
        return out

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Spawned:
    """A server that knows nothing of the bench (a peer): started on a free port with a plain command
    line, pinned like the others, ready once the port accepts a connection, stopped with SIGTERM."""

    def __init__(self, command: list, port: int, cwd: str, cpu: Optional[int] = SERVER_CPU, wait: float = 30.0):
        self.port, self.url = port, f"http://127.0.0.1:{port}"
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop(): it outlives this call)
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=self.errors, cwd=cwd, preexec_fn=lambda: pin(cpu))
        self.pid = self.process.pid
        deadline = time.monotonic() + wait
        while not listening(port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                said = self.stop()
                raise RuntimeError(f"{os.path.basename(command[0])} did not start: {said}")
            time.sleep(0.005)

    def status(self) -> dict:
        return read_status(self.pid)

    def stop(self, timeout: float = 10.0) -> str:
        """Terminate it and return the end of what it wrote to stderr."""
        if self.errors.closed:
            return ""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.errors.seek(0)
        said = self.errors.read().decode(errors="replace").strip()[-300:]
        self.errors.close()
        return said

    def __enter__(self) -> Spawned:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def read_status(pid: int) -> dict:
    """RSS and peak RSS in MiB and the thread count, from /proc/<pid>/status (empty off Linux)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            lines = dict(line.split(":", 1) for line in handle if ":" in line)
    except OSError:
        return {}
    kib = lambda key: int(lines[key].split()[0]) / 1024 if key in lines else 0.0
    return {"rss_mib": kib("VmRSS"), "hwm_mib": kib("VmHWM"), "threads": int(lines.get("Threads", "0"))}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far: per-request cost survives a noisy machine
    better than requests per second do."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PeakSampler:
    """Samples a process's threads and RSS every few ms in a thread, keeping the peaks."""

    def __init__(self, pid: int, every: float = 0.01):
        self.pid, self.every = pid, every
        self.peak_threads, self.peak_rss = 0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            status = read_status(self.pid)
            self.peak_threads = max(self.peak_threads, status.get("threads", 0))
            self.peak_rss = max(self.peak_rss, status.get("rss_mib", 0.0))

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def serve_until_stdin_closes(url: str, stop) -> None:
    """The child side: announce the URL, then call `stop()` when the parent closes our stdin."""
    print(url, flush=True)
    try:
        while sys.stdin.read(4096):
            pass
    finally:
        stop()

