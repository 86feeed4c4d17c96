"""The command line: start (banner, precedence, errors), init and validate."""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import urllib.request
from importlib import resources

import openai
import pytest

from llm_mock import MockServer, __version__
from llm_mock.cli import main, start_command
from llm_mock.engine import DEFAULT_FALLBACK
from llm_mock.log import Logger

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Served:
    """`python -m llm_mock ...` in a subprocess, up once its banner names the URL.

    `python` is the interpreter and its options (this one, with the repo on PYTHONPATH, by default).
    """

    def __init__(self, args: list, cwd: str, timeout: float = 10, python: list | None = None):
        env = dict(os.environ, PYTHONPATH=REPO, NO_COLOR="1")
        # a file, not a pipe: a full pipe would block the server
        self.stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115  (closed in __exit__)
        self.process = subprocess.Popen([*(python or [sys.executable]), "-m", "llm_mock", *args], cwd=cwd, env=env,
                                        text=True, stdout=subprocess.PIPE, stderr=self.stderr)
        self.banner = self._read_banner(timeout)
        self.url = re.search(r"listening on (http://\S+)", self.banner).group(1)

    def _read_banner(self, timeout: float) -> str:
        lines, done = [], threading.Event()

        def read() -> None:  # keeps draining stdout so the server never blocks on it
            for line in self.process.stdout:
                lines.append(line)
                if line.startswith("  Ctrl+C"):
                    done.set()
            done.set()

        threading.Thread(target=read, daemon=True).start()
        if done.wait(timeout) and lines and lines[-1].startswith("  Ctrl+C"):
            return "".join(lines)
        self.stop()
        raise AssertionError(f"no banner; stdout={''.join(lines)!r} stderr={self.log()!r}")

    def openai(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key="sk-test", max_retries=0,
                             _strict_response_validation=True)

    def log(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(10)

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.stderr.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def streamed(client: openai.OpenAI, text: str) -> list:
    stream = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}],
                                            stream=True)
    return [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]


def write_json(path, data) -> str:
    path = str(path)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    return path


# -- start ---------------------------------------------------------------------------------------
def test_precedence_command_line_over_config_over_defaults(tmp_path):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir(), elsewhere.mkdir()
    (project / "rules.json5").write_text('[{when: "ping", reply: "pong from the config rules"}]')
    (project / "other.json5").write_text('[{when: "ping", reply: "pong from the command line rules"}]')
    port = free_port()
    config = write_json(project / "config.json", {
        "port": port, "host": "127.0.0.1", "log_level": "none", "default_chunk_size": 3, "latency": 0,
        "fallback": "fallback from config", "rules": "./rules.json5", "watch": False})

    # config.json alone: its port, chunk size, fallback, and rules relative to its own folder
    with Served(["start", "--config", config], cwd=str(elsewhere)) as served:
        assert served.url == f"http://127.0.0.1:{port}"
        client = served.openai()
        assert streamed(client, "ping") == ["pon", "g f", "rom", " th", "e c", "onf", "ig ", "rul", "es"]
        assert "".join(streamed(client, "zzz")) == "fallback from config"
        assert served.stop() == 0
        assert served.log() == ""  # log_level none

    # the command line wins key by key
    with Served(["start", "--config", config, "-p", "0", "-c", "5", "-f", "fallback from cli",
                 "-r", str(project / "other.json5"), "--log-level", "info"], cwd=str(elsewhere)) as served:
        assert served.url != f"http://127.0.0.1:{port}"
        client = served.openai()
        assert streamed(client, "ping")[:2] == ["pong ", "from "]
        assert "".join(streamed(client, "ping")) == "pong from the command line rules"
        assert streamed(client, "zzz") == ["fallb", "ack f", "rom c", "li"]
        served.stop()
        assert 'POST /v1/chat/completions [stream] "zzz" -> fallback 200' in served.log()

    # no config at all (and no subcommand): the defaults
    with Served(["-p", "0"], cwd=str(elsewhere)) as served:
        assert "Rules      none" in served.banner
        assert streamed(served.openai(), "zzz") == [DEFAULT_FALLBACK]
        served.stop()
        assert served.log() == ""


def test_banner_names_real_port_rule_count_and_endpoints(tmp_path):
    rules = tmp_path / "rules.json5"
    rules.write_text('[{when: "a", reply: "b"}, {when: "c", reply: "d"}]')
    with Served(["start", "-p", "0", "-r", str(rules), "-l", "5", "-c", "10"], cwd=str(tmp_path)) as served:
        port = int(served.url.rsplit(":", 1)[1])
        assert port > 0
        assert served.banner.splitlines()[0] == f"llm_mock {__version__} listening on http://127.0.0.1:{port}"
        assert f"Rules      2 loaded from {rules}" in served.banner
        assert "Endpoints  POST /v1/chat/completions, /v1/responses, /v1/messages" in served.banner
        assert "Formats    openai, responses, anthropic, embeddings, completions, gemini, ollama" in served.banner
        assert "5 ms between events, 10 characters per chunk" in served.banner
        assert f'base_url="http://127.0.0.1:{port}/v1"' in served.banner
        assert served.stop() == 0


def one_error_line(capsys, argv: list, code: int) -> str:
    assert main(argv) == code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith("llm-mock: error: ")
    return lines[0]


@pytest.mark.parametrize("argv, message", [
    (["-p", "abc"], "argument -p/--port: invalid port 'abc'"),
    (["start", "-p", "65536"], "argument -p/--port: invalid port '65536'"),
    (["-l", "-1"], "argument -l/--latency: invalid latency '-1'"),
    (["-c", "2.5"], "argument -c/--chunk-size: invalid chunk size '2.5'"),
    (["--log-level", "verbose"], "argument --log-level: invalid choice: 'verbose'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["validate"], "the following arguments are required: PATH"),
])
def test_bad_arguments_are_one_line_and_exit_2(capsys, argv, message):
    assert message in one_error_line(capsys, argv, 2)


@pytest.mark.parametrize("config, message", [
    ('{"port": 8002, "colour": true}', "unknown config key 'colour'"),
    ('{"port": "8002"}', "port must be an integer from 0 to 65535, not '8002'"),
    ('{"log_level": "loud"}', "log_level must be one of none, error, warning, info, debug, all"),
    ('{"default_chunk_size": -1}', "default_chunk_size must be a whole number"),
    ('{"watch": "yes"}', "watch must be true or false"),
    ('{"port": 80,', "Invalid JSON in config file"),
    ('[1, 2]', "must be a JSON object at top level"),
])
def test_bad_config_is_one_line_and_exit_1(tmp_path, capsys, config, message):
    path = tmp_path / "config.json"
    path.write_text(config)
    assert message in one_error_line(capsys, ["start", "--config", str(path)], 1)


def test_missing_config_is_fine_unless_named(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "config file not found: nope.json" in one_error_line(capsys, ["--config", "nope.json"], 1)


def test_port_in_use_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_error_line(capsys, ["start", "-p", str(port)], 1)
    assert line == f"llm-mock: error: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_broken_rules_stop_start_with_every_problem(tmp_path, capsys):
    rules = tmp_path / "rules.json5"
    rules.write_text('[{when: "a", reply: "b", tmes: 1}, {when: {modle: "x"}, reply: "y"}]')
    assert main(["start", "-p", "0", "-r", str(rules)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [f"llm-mock: error: {rules}: rule 0: tmes: unknown key; did you mean times?",
                                f"llm-mock: error: {rules}: rule 1: when.modle: unknown key; did you mean model?"]


def test_sigterm_stops_cleanly(tmp_path):
    with Served(["-p", "0", "--log-level", "info"], cwd=str(tmp_path)) as served:
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(10) == 0
        assert "Server stopped" in served.log() and "Traceback" not in served.log()


# -- init -------------------------------------------------------------------------------------------
# the config.json fields of the project llm_mock replaces, each written by `init`
CONFIG_FIELDS = {"port", "host", "log_level", "default_latency", "default_chunk_size", "fallback", "rules", "watch"}
DEMO_FALLBACK = ("Sorry, I don't understand. Try: hi, hello, echo, joke, weather, multi tool, step, slow step, once, "
                 "three times, long or unknown.")


def test_init_writes_the_packaged_demo_and_refuses_to_overwrite(tmp_path, capsys):
    target = tmp_path / "new" / "project"
    assert main(["init", "-d", str(target)]) == 0
    demo = resources.files("llm_mock") / "demo"
    for name in ("config.json", "rules.json5"):
        assert (target / name).read_bytes() == (demo / name).read_bytes()
    assert json.loads((target / "config.json").read_text()) == {
        "port": 8002, "host": "127.0.0.1", "log_level": "info", "default_latency": 50, "default_chunk_size": 50,
        "fallback": DEMO_FALLBACK, "rules": "./rules.json5", "watch": True}
    capsys.readouterr()

    (target / "rules.json5").write_text("[]")
    line = one_error_line(capsys, ["init", "-d", str(target)], 1)
    assert "already exist; use --force to overwrite" in line
    assert (target / "rules.json5").read_text() == "[]"
    assert main(["init", "-d", str(target), "--force"]) == 0
    assert (target / "rules.json5").read_bytes() == (demo / "rules.json5").read_bytes()


def test_init_writes_every_config_field(tmp_path, capsys):
    assert main(["init", "-d", str(tmp_path)]) == 0
    config = json.loads((tmp_path / "config.json").read_text())
    assert set(config) == CONFIG_FIELDS
    server = MockServer.from_json_config(str(tmp_path / "config.json"))  # every field is one the server reads
    assert server.rule_count == 15


def test_init_defaults_to_the_current_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["config.json", "rules.json5"]
    out = capsys.readouterr().out
    assert "wrote ./config.json" in out
    assert re.search(r"^Next: .* start$", out, re.M), out  # ./config.json is what `start` reads anyway


def test_the_plain_json_demo_rules_are_the_json5_ones():
    import json5
    demo = resources.files("llm_mock") / "demo"
    assert json.loads((demo / "rules.json").read_text(encoding="utf-8")) == \
        json5.loads((demo / "rules.json5").read_text(encoding="utf-8")), (
        "llm_mock/demo/rules.json is out of date; rewrite it from rules.json5 with json.dumps(json5.load(...), "
        "indent=2, ensure_ascii=False)")


def test_init_without_json5_writes_rules_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "json5", None)  # `import json5` now fails, as where it is not installed
    assert main(["init", "-d", str(tmp_path)]) == 0
    assert sorted(os.listdir(tmp_path)) == ["config.json", "rules.json"]
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'rules.json'} (plain JSON, without the comments: the json5 package is not" in out
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["rules"] == "./rules.json" and set(config) == CONFIG_FIELDS
    assert MockServer.from_json_config(str(tmp_path / "config.json")).rule_count == 15
    assert main(["init", "-d", str(tmp_path)]) == 1  # its own files count as existing ones
    assert "rules.json already exist" in capsys.readouterr().err


def test_init_names_the_installed_script_when_there_is_one(tmp_path, capsys, monkeypatch):
    script = os.path.join(sysconfig.get_path("scripts"), "llm-mock")
    monkeypatch.setattr(shutil, "which", lambda name: script if name == "llm-mock" else None)
    assert start_command() == ("llm-mock", True)
    assert main(["init", "-d", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"Next: llm-mock start --config {tmp_path / 'config.json'}\n" in out
    assert "pip install" not in out


def test_init_names_the_script_by_its_path_when_path_lacks_its_folder(tmp_path, capsys, monkeypatch):
    script = os.path.join(sysconfig.get_path("scripts"), "llm-mock")
    monkeypatch.setattr(shutil, "which", lambda name: script if name == script else None)
    assert start_command() == (script, True)
    assert main(["init", "-d", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"Next: {script} start --config {tmp_path / 'config.json'}\n" in out and "pip install" not in out


def test_init_names_python_m_when_the_script_is_not_installed(tmp_path, capsys, monkeypatch):
    # a script of that name elsewhere on PATH (another environment's) is not this installation's
    monkeypatch.setattr(shutil, "which", lambda name: "/elsewhere/bin/llm-mock" if name == "llm-mock" else None)
    assert start_command() == (f"{sys.executable} -m llm_mock", False)
    assert main(["init", "-d", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"Next: {sys.executable} -m llm_mock start --config {tmp_path / 'config.json'}\n" in out
    assert "`pip install llm-mock-server` gives the shorter `llm-mock start`" in out
    python = os.path.basename(sys.executable)  # the bare name when PATH finds this very interpreter
    monkeypatch.setattr(shutil, "which", lambda name: sys.executable if name == python else None)
    assert start_command() == (f"{python} -m llm_mock", False)


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "a-file", "cannot create {dir}: File exists"),
    (lambda tmp: tmp / "a-file" / "sub", "cannot create {dir}: Not a directory"),
])
def test_init_into_a_folder_it_cannot_make_is_one_line(tmp_path, capsys, make, message):
    (tmp_path / "a-file").write_text("not a folder")
    folder = make(tmp_path)
    line = one_error_line(capsys, ["init", "-d", str(folder)], 1)
    assert line == "llm-mock: error: " + message.format(dir=folder)


def test_init_where_a_file_cannot_be_written_is_one_line(tmp_path, capsys):
    (tmp_path / "config.json").mkdir()  # even root cannot open a folder for writing
    line = one_error_line(capsys, ["init", "-d", str(tmp_path), "--force"], 1)
    assert line == f"llm-mock: error: cannot write {tmp_path / 'config.json'}: Is a directory"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_init_into_a_read_only_folder_is_one_line(tmp_path, capsys):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        line = one_error_line(capsys, ["init", "-d", str(folder)], 1)
    finally:
        folder.chmod(0o700)
    assert line == f"llm-mock: error: cannot write {folder / 'config.json'}: Permission denied"


def test_init_and_start_from_a_vendored_copy_without_json5(tmp_path):
    """The package copied into a project, run by an interpreter without site-packages (so no json5)."""
    vendor = tmp_path / "vendor"
    shutil.copytree(os.path.join(REPO, "llm_mock"), vendor / "llm_mock",
                    ignore=shutil.ignore_patterns("__pycache__"))
    python = [sys.executable, "-S"]  # -S: no site-packages; the current folder (vendor) is on sys.path with -m
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run([*python, "-c", "import json5"], cwd=vendor, env=env, capture_output=True)
    assert done.returncode == 1, "json5 should not be importable here"
    done = subprocess.run([*python, "-m", "llm_mock", "init", "-d", "demo"], cwd=vendor, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert sorted(os.listdir(vendor / "demo")) == ["config.json", "rules.json"]
    assert f"-m llm_mock start --config {os.path.join('demo', 'config.json')}" in done.stdout
    assert "pip install llm-mock-server" in done.stdout

    with Served(["start", "--config", os.path.join("demo", "config.json"), "-p", "0"], cwd=str(vendor),
                python=python) as served:
        assert "Rules      15 loaded" in served.banner
        for text, expected in (("hi there", "Hello! 👋 This is llm_mock. How can I help you today?"),
                               ("xyzzy", DEMO_FALLBACK)):
            body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}).encode()
            request = urllib.request.Request(served.url + "/v1/chat/completions", data=body,
                                             headers={"content-type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert json.load(answer)["choices"][0]["message"]["content"] == expected
        assert served.stop() == 0


# -- validate ---------------------------------------------------------------------------------------
def test_validate_clean_files_exit_0(tmp_path, capsys):
    (tmp_path / "a.json5").write_text('[{when: "a", reply: "b"}]')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.json").write_text('{"rules": [{"when": "c", "reply": "d"}, {"when": "e", "reply": "f"}]}')
    assert main(["validate", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"ok     {tmp_path / 'a.json5'}: 1 rule(s)", f"ok     {tmp_path / 'sub' / 'b.json'}: 2 rule(s)",
        "all good: 3 rule(s) in 2 file(s)"]


def test_validate_reports_each_problem_and_exits_1(tmp_path, capsys):
    (tmp_path / "a.json5").write_text('[{when: "a", reply: "b"}]')
    (tmp_path / "b.json5").write_text('[{when: "a", reply: {text: "b", tool: []}}, {when: "c", replies: "d"}]')
    assert main(["validate", str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"ok     {tmp_path / 'a.json5'}: 1 rule(s)",
        f"error  {tmp_path / 'b.json5'}: rule 0: reply.tool: unknown key; did you mean tools?",
        f"error  {tmp_path / 'b.json5'}: rule 1: replies: must be a non-empty array of replies",
        "2 problem(s) found"]


@pytest.mark.parametrize("name, text, code", [
    ("missing.json5", None, 1),
    ("rules.yaml", "x: 1", 1),
    ("rules.json5", "{rules: [", 1),
    ("empty", "", 0),
])
def test_validate_exit_codes(tmp_path, capsys, name, text, code):
    path = tmp_path / name
    if name == "empty":
        path.mkdir()
    elif text is not None:
        path.write_text(text)
    assert main(["validate", str(path)]) == code
    out = capsys.readouterr().out
    assert (f"error  {path}: " in out) == (code == 1)


def test_validate_the_demo_rules(capsys):
    assert main(["validate", os.path.join(REPO, "llm_mock", "demo", "rules.json5")]) == 0
    assert "15 rule(s)" in capsys.readouterr().out


# -- logging ----------------------------------------------------------------------------------------
class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def logged_requests(level: str, stream=None) -> str:
    stream = stream if stream is not None else io.StringIO()
    with MockServer() as server:
        server.log = Logger(level, stream=stream)
        server.when("weather").reply({"text": "Checking", "reasoning": "think",
                                      "tools": [{"name": "get_weather", "args": {"city": "Oslo"}}]})
        server.when("fail").reply({"error": {"status": 429, "message": "Slow down"}})
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
        client.chat.completions.create(model="gpt-4o", messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the weather like in Oslo today, and should I bring an umbrella?"}],
            tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {}}}])
        list(client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "zzz"}],
                                            stream=True))
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "fail"}])
    return stream.getvalue()


def test_info_logs_one_line_per_request():
    lines = [line.split(" ", 1)[1] for line in logged_requests("info").splitlines() if "POST" in line]
    assert [re.sub(r"\(\d+ms\)", "(Nms)", line) for line in lines] == [
        '● INFO  POST /v1/chat/completions [json] "What is the weather like in Oslo today, and should I bring …" '
        '-> "weather" 200 (Nms)',
        '● INFO  POST /v1/chat/completions [stream] "zzz" -> fallback 200 (Nms); closest: rule 0 "weather" '
        '(0 of 1 conditions held): message: expected "weather" — got "zzz"',
        '● INFO  POST /v1/chat/completions [json] "fail" -> "fail" 429 (Nms)']


def test_debug_adds_the_normalised_request_and_a_reply_preview():
    log = logged_requests("debug")
    assert ('DEBUG   request: format=openai model=gpt-4o stream=False messages=2 last="What is the weather like '
            'in Oslo today, and should I bring …" system="Be brief." tools=get_weather') in log
    assert 'DEBUG   reply: reasoning="think" text="Checking" tool get_weather({"city":"Oslo"})' in log
    assert 'DEBUG   reply: text="llm_mock: no rule matched this request."' in log
    assert "DEBUG   reply: error 429 Slow down" in log
    assert "DEBUG" not in logged_requests("info") and logged_requests("none") == ""


def test_colour_only_on_a_terminal(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[" not in logged_requests("info")
    assert "\x1b[36m● INFO" in logged_requests("info", _Terminal())
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in logged_requests("info", _Terminal())
