"""The peers llm_mock is compared with: installed on demand into a cache outside the repository,
given the bench's workloads in their own rule format, and started as servers on a given port.

    aimock        @copilotkit/aimock from the npm registry (Node.js): `npm install` into the cache
    llm-mock-api  the Python predecessor of llm_mock, from PyPI, into a venv in the cache

The cache is `$LLM_MOCK_BENCH_CACHE`, else `$XDG_CACHE_HOME/llm-mock-bench`, else
`~/.cache/llm-mock-bench`; each peer lives in a folder named after its pinned version, so bumping
a version below installs beside the old one. A peer that cannot be installed (no Node.js, no
network) is skipped with one line saying why; the bench runs on without it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Optional

from workloads import WORKLOADS

AIMOCK_VERSION = "1.43.0"
LLM_MOCK_API_VERSION = "0.1.2"


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get("LLM_MOCK_BENCH_CACHE") or os.path.join(base, "llm-mock-bench")


def _run(command: list, **kwargs) -> Optional[str]:
    """Run an install step; None when it worked, else the last lines it printed."""
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode == 0:
        return None
    lines = (done.stderr or done.stdout).strip().splitlines()
    return " / ".join(lines[-3:]) or f"exit status {done.returncode}"


@dataclass
class Peer:
    """One peer: where it is installed, how it is installed, its rules file, its command line."""

    name: str
    version: str

    @property
    def home(self) -> str:
        return os.path.join(cache_dir(), f"{self.name}-{self.version}")

    @property
    def ready(self) -> bool:
        return os.path.exists(os.path.join(self.home, ".installed"))

    def install(self) -> Optional[str]:
        """Install into the cache unless it is there; None when usable, else why it is skipped."""
        missing = self.missing_tool()
        if missing:
            return missing
        if self.ready:
            return None
        print(f"  installing {self.name} {self.version} into {self.home} ...", flush=True)
        shutil.rmtree(self.home, ignore_errors=True)
        os.makedirs(self.home)
        failed = self._install()
        if failed:
            return f"install failed: {failed}"
        open(os.path.join(self.home, ".installed"), "w").close()
        return None

    def missing_tool(self) -> Optional[str]:
        return None

    def _install(self) -> Optional[str]:
        raise NotImplementedError

    def rules(self, directory: str) -> str:
        """Write the bench's workloads as this peer's rule file in `directory`; returns its path."""
        raise NotImplementedError

    def command(self, port: int, rules: str) -> list:
        raise NotImplementedError


class AiMock(Peer):
    """aimock's `llmock` command: `-f FIXTURES.json`; a fixture per workload, matched on the last user
    message as a substring, with its own chunk size and gap between chunks."""

    def __init__(self):
        super().__init__("aimock", AIMOCK_VERSION)

    def missing_tool(self) -> Optional[str]:
        if not shutil.which("node") or not shutil.which("npm"):
            return "skipped: Node.js (node and npm) is not installed"
        return None

    def _install(self) -> Optional[str]:
        return _run(["npm", "install", "--prefix", self.home, "--no-audit", "--no-fund", "--loglevel=error",
                     f"@copilotkit/aimock@{self.version}"])

    def rules(self, directory: str) -> str:
        fixtures = []
        for spec in WORKLOADS.values():
            fixture = {"match": {"userMessage": spec.marker}, "response": {"content": spec.text}}
            if spec.chunk_size:
                fixture["chunkSize"] = spec.chunk_size
            if spec.latency:
                fixture["latency"] = int(spec.latency)
            fixtures.append(fixture)
        return _write(directory, "aimock-fixtures.json", {"fixtures": fixtures})

    def command(self, port: int, rules: str) -> list:
        package = os.path.join(self.home, "node_modules", "@copilotkit", "aimock")
        with open(os.path.join(package, "package.json")) as handle:
            cli = json.load(handle)["bin"]["llmock"]
        return [shutil.which("node") or "node", os.path.join(package, cli), "--port", str(port),
                "--host", "127.0.0.1", "--fixtures", rules, "--log-level", "silent"]


class LlmMockApi(Peer):
    """llm-mock-api's `llm-mock-api start`: `-r RULES.json5`. A rule's reply carries its own chunk size
    and gap only inside a `replies` sequence (whose last entry repeats), so paced workloads use one;
    `-l 0` lifts its default gap of 200 ms between chunks."""

    def __init__(self):
        super().__init__("llm-mock-api", LLM_MOCK_API_VERSION)

    def _install(self) -> Optional[str]:
        return (_run([sys.executable, "-m", "venv", self.home])
                or _run([os.path.join(self.home, "bin", "python"), "-m", "pip", "install", "-q",
                         "--disable-pip-version-check", f"llm-mock-api=={self.version}"]))

    def rules(self, directory: str) -> str:
        rules = []
        for spec in WORKLOADS.values():
            if spec.chunk_size or spec.latency:
                step = {"reply": spec.text, "chunkSize": spec.chunk_size, "latency": int(spec.latency)}
                rules.append({"when": spec.marker, "replies": [step]})
            else:
                rules.append({"when": spec.marker, "reply": spec.text})
        return _write(directory, "llm-mock-api-rules.json", {"rules": rules})

    def command(self, port: int, rules: str) -> list:
        return [os.path.join(self.home, "bin", "llm-mock-api"), "start", "--port", str(port), "--host", "127.0.0.1",
                "--rules", rules, "--latency", "0", "--log-level", "none",
                "--config", os.path.join(os.path.dirname(rules), "no-config.json")]


def _write(directory: str, name: str, document: dict) -> str:
    path = os.path.join(directory, name)
    with open(path, "w") as out:
        json.dump(document, out)
    return path


PEERS = {peer.name: peer for peer in (AiMock(), LlmMockApi())}
