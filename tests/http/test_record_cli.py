"""`llm-mock start --record DIR --upstream URL`, `-r DIR --replay strict --replay-timing recorded`, and
the summary line at exit, from the command line in a subprocess."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading

import openai
import pytest

from llm_mock import MockServer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Cli:
    """`python -m llm_mock start ...`, up once its banner is printed; `stop()` returns its stdout."""

    def __init__(self, *args: str, cwd: str):
        env = dict(os.environ, PYTHONPATH=REPO, NO_COLOR="1")
        self.process = subprocess.Popen([sys.executable, "-m", "llm_mock", "start", *args], cwd=cwd, env=env,
                                        text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.lines: list = []
        ready = threading.Event()

        def read() -> None:
            for line in self.process.stdout:
                self.lines.append(line)
                if line.startswith("  Ctrl+C"):
                    ready.set()
            ready.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        assert ready.wait(15), self.lines
        self.url = re.search(r"listening on (http://\S+)", "".join(self.lines)).group(1)

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key="sk-test", max_retries=0)

    def stop(self) -> str:
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(15) == 0
        self.reader.join(5)
        return "".join(self.lines)


def ask(client: openai.OpenAI, text: str) -> str:
    return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}]
                                          ).choices[0].message.content


def test_record_then_replay_strict_from_the_command_line(tmp_path):
    directory = str(tmp_path / "recordings")
    with MockServer() as up:
        up.when("ping").reply("pong", latency=10)
        cli = Cli("--record", directory, "-r", directory, "--upstream", up.url, "--redact", r"\d{6}", cwd=str(tmp_path))
        assert f"Recording  misses to {directory}, forwarded to {up.url}" in "".join(cli.lines)
        assert ask(cli.client(), "ping 123456") == "pong"
        assert "recording(s)" not in cli.stop()  # nothing was loaded to replay
    rule_file = next(name for name in os.listdir(directory) if name.endswith((".json5", ".json")))
    for name in os.listdir(directory):  # --redact \d{6}
        with open(os.path.join(directory, name), encoding="utf-8") as handle:
            assert "123456" not in handle.read()
    cli = Cli("-r", directory, "--replay", "strict", "--replay-timing", "recorded", cwd=str(tmp_path))
    assert "Replay     strict, recorded timing ×1" in "".join(cli.lines)
    assert ask(cli.client(), "ping 654321") == "pong"  # a redacted part of the message matches anything
    with pytest.raises(openai.NotFoundError, match="no rule matched.*Closest recording: run-"):
        ask(cli.client(), "hello")
    assert cli.stop().splitlines()[-1] == "llm_mock: all 1 recording(s) replayed"
    cli = Cli("-r", directory, cwd=str(tmp_path))
    last = cli.stop().splitlines()[-1]
    assert last.startswith("llm_mock: 1 of 1 recording(s) never replayed: run-") and rule_file in last


@pytest.mark.parametrize("args, config, message", [
    (["--record", "rec"], None, "recording needs an upstream"),
    (["--upstream", "http://127.0.0.1:1"], None, "only used when recording"),
    (["--record", "rec", "--upstream", "api.openai.com"], None, "must be an http:// or https:// URL"),
    (["--replay-timing", "fast"], None, "replay_timing must be \"recorded\" or a positive speed factor"),
    (["--record", "rec", "--upstream", "http://x", "--redact", "("], None, "redact must be an array of regexes"),
    ([], {"redact": "sk-"}, "redact must be an array of regexes"),
    ([], {"upstreams": {"openai": 1}}, "upstreams must be an object of URLs"),
])
def test_bad_record_options_are_one_line_errors(tmp_path, args, config, message):
    if config is not None:
        (tmp_path / "config.json").write_text(json.dumps(config))
    done = subprocess.run([sys.executable, "-m", "llm_mock", "start", *args], cwd=str(tmp_path), text=True,
                          capture_output=True, timeout=30, env=dict(os.environ, PYTHONPATH=REPO))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
