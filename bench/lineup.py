"""The servers of a run and what each answered: llm_mock, the ceiling that replays llm_mock's bytes,
and the peers that installed. Every server is asked each workload in each wire format once before
the rounds; its answers are checked (status 200, the workload's text) and measured (size, events),
and a wire it does not serve gets no figure in that wire's rows."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Optional

from loadgen import fetch, split_response
from peers import Peer
from procs import Child, Spawned, free_port
from table import CEILING, MOCK
from workloads import FORMATS, WIRES, WORKLOADS, request_for

# what each server is asked before the rounds (and what the ceiling can replay)
CAPTURED = [("json", "openai"), *(("sse", fmt) for fmt in FORMATS), ("paced", "openai"), ("accuracy", "openai")]


@dataclass
class Answer:
    """One checked response of a server: its bytes and its number of stream events."""

    raw: bytes
    head: bytes
    chunks: list
    events: int


@dataclass
class Side:
    """A running server in a scenario's rounds and the answers it gave before them."""

    name: str
    server: object  # Child or Spawned: .port, .pid, .status()
    answers: dict

    @property
    def port(self) -> int:
        return self.server.port  # type: ignore[attr-defined]

    @property
    def pid(self) -> int:
        return self.server.pid  # type: ignore[attr-defined]

    def serves(self, workload: str, fmt: str) -> bool:
        return (workload, fmt) in self.answers


def check(raw: bytes, workload: str, fmt: str) -> tuple:
    """(Answer, "") when `raw` is the workload's reply, else (None, why); a 404 says no more."""
    status = raw[9:12]
    if status == b"404":
        return None, "404"
    if status != b"200":
        return None, f"answered {raw[:60]!r}"
    head, chunks = split_response(raw)
    spec, wire = WORKLOADS[workload], WIRES[fmt]
    body = b"".join(chunks)
    if not spec.stream:
        return (Answer(raw, head, chunks, 1), "") if spec.text.encode() in body else (None, "other text")
    text = wire.stream_text(body)
    if text != spec.text:
        return None, f"streamed {len(text)} of {len(spec.text)} characters of the text"
    return Answer(raw, head, chunks, wire.count_events(body)), ""


def capture(port: int, name: str, strict: bool) -> dict:
    """Ask every workload in every wire; `strict` (llm_mock) makes a wrong answer to a wire it
    serves an error, not a skipped row. Prints one line for what a server left out."""
    answers, left_out = {}, []
    for workload, fmt in CAPTURED:
        raw = asyncio.run(fetch(port, request_for(workload, fmt, port)))
        answer, why = check(raw, workload, fmt)
        if answer is not None:
            answers[(workload, fmt)] = answer
        elif strict and (why != "404" or fmt in ("openai", "responses", "anthropic")):
            raise RuntimeError(f"{name}: {workload}/{fmt} {why}")
        else:
            left_out.append(f"{workload}/{fmt} ({why})")
    if left_out:
        print(f"  {name}: no rows for {', '.join(left_out)}", flush=True)
    return answers


def ceiling_file(answers: dict, directory: str) -> str:
    """The replay list for the ceiling: paced workloads as one frame per chunk, on their gap."""
    entries = []
    for (workload, fmt), answer in answers.items():
        spec = WORKLOADS[workload]
        if spec.latency:
            encoded = [b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in answer.chunks]
            frames = [answer.head + encoded[0], *encoded[1:-1], encoded[-1] + b"0\r\n\r\n"]
        else:
            frames = [answer.raw]
        entries.append({"path": WIRES[fmt].route(spec.stream), "marker": spec.marker, "gap": spec.latency / 1000,
                        "frames": [frame.decode("latin-1") for frame in frames]})
    path = os.path.join(directory, "ceiling.json")
    with open(path, "w") as out:
        json.dump(entries, out)
    return path


class Lineup:
    """llm_mock, the ceiling and the peers, with their answers; `servers()` starts a scenario's set."""

    def __init__(self, profile_dir: Optional[str], peers: list):
        self.profile_dir, self.candidates = profile_dir, peers
        self.directory = ""
        self.answers: dict = {}
        self.peers: list = []  # (Peer, rules file) of the peers that answered
        self.ceiling: Optional[Child] = None

    def __enter__(self) -> Lineup:
        """Ask each server everything once (peers that fail to start are dropped), start the ceiling."""
        self.directory = tempfile.mkdtemp(prefix="llm_mock_bench_")
        try:
            with self.launcher("capture") as server:
                self.answers[MOCK] = capture(server.port, MOCK, strict=True)
            for peer in self.candidates:
                rules = peer.rules(self.directory)
                try:
                    with self.start_peer(peer, rules) as server:
                        self.answers[peer.name] = capture(server.port, peer.name, strict=False)
                    self.peers.append((peer, rules))
                except (RuntimeError, OSError) as failed:
                    print(f"  {peer.name}: skipped ({failed})", flush=True)
            self.answers[CEILING] = self.answers[MOCK]
            self.ceiling = Child("ceiling.py", ceiling_file(self.answers[MOCK], self.directory))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.ceiling is not None:
            self.ceiling.stop()
            self.ceiling = None
        shutil.rmtree(self.directory, ignore_errors=True)

    def launcher(self, label: str) -> Child:
        args = ["--profile", os.path.join(self.profile_dir, f"{label}.pstats")] if self.profile_dir else []
        return Child("launcher.py", *args)

    def start_peer(self, peer: Peer, rules: str) -> Spawned:
        port = free_port()
        return Spawned(peer.command(port, rules), port, cwd=self.directory)

    @contextlib.contextmanager
    def servers(self, label: str, serving: Optional[tuple], ceiling: bool = True):
        """A fresh llm_mock (profiled as `label` under --profile) and the peers that answered the
        (workload, wire) `serving` right (None: every peer), fresh, with the running ceiling: the
        sides of one scenario, llm_mock first."""
        with contextlib.ExitStack() as stack:
            sides = [Side(MOCK, stack.enter_context(self.launcher(label)), self.answers[MOCK])]
            if ceiling and self.ceiling is not None:
                sides.append(Side(CEILING, self.ceiling, self.answers[CEILING]))
            for peer, rules in self.peers:
                if serving is None or serving in self.answers[peer.name]:
                    sides.append(Side(peer.name, stack.enter_context(self.start_peer(peer, rules)),
                                      self.answers[peer.name]))
            yield sides

    def cold_commands(self) -> list:
        """(name, command(port), cwd) of each peer that answers the JSON workload, started from its
        CLI, for the cold start rows."""
        return [(peer.name, lambda port, peer=peer, rules=rules: peer.command(port, rules), self.directory)
                for peer, rules in self.peers if ("json", "openai") in self.answers[peer.name]]
