"""Watch mode loads a rules file only once it has held still (no half-written file is ever served
or reported), loads `.py` rules from their source every time without writing beside them, and
prints a failed reload at every log level but `none`."""
from __future__ import annotations

import http.client
import io
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from llm_mock import MockServer
from llm_mock.watch import Watcher

CHAT = "/v1/chat/completions"
RULES = 200


def py_rules(version: int) -> list:
    lines = ["from llm_mock import ReplyObject", "", "rules = ["]
    lines += [f'    {{"when": "topic {n} ", "reply": ReplyObject(text="v{version} answer {n}")}},'
              for n in range(RULES)]
    return [*lines, "]", ""]


def ask(conn: http.client.HTTPConnection, text: str) -> str:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]})
    conn.request("POST", CHAT, body, {"content-type": "application/json"})
    response = conn.getresponse()
    return json.loads(response.read())["choices"][0]["message"]["content"]


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


WRITER = """
import sys, time
path, rules = sys.argv[1], int(sys.argv[2])
for version in range(1, 41):
    lines = ["from llm_mock import ReplyObject", "", "rules = ["]
    lines += ['    {"when": "topic %d ", "reply": ReplyObject(text="v%d answer %d")},' % (n, version, n)
              for n in range(rules)]
    with open(path, "w") as handle:  # in place, a line at a time, as a slow writer does
        for line in [*lines, "]", ""]:
            handle.write(line + "\\n")
            handle.flush()
            if len(line) % 7 == 0:
                time.sleep(0.0005)
    time.sleep(0.01 if version % 10 else 0.8)  # now and then a pause longer than the settle time
"""


def test_a_file_rewritten_line_by_line_is_never_loaded_half_written(tmp_path):
    """Before: 40 line-by-line rewrites swapped in sets of 23 and 198 rules, thousands of requests got
    the fallback, and editor-style saves logged false "Reload failed" errors."""
    path = tmp_path / "rules.py"
    path.write_text("\n".join(py_rules(0)))
    log = io.StringIO()
    with MockServer(fallback="FALLBACK", log_level="info") as server:
        server.log.stream = log
        server.load(str(path))
        # the settle time is twice the default here: the writer may be descheduled on a busy machine
        watcher = Watcher(str(path), lambda: server.reload(str(path)), server.log, interval=0.05, settle=0.4).start()
        counts, answers, stop = set(), [], threading.Event()

        def requests() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            n = 0
            while not stop.is_set():
                answers.append(ask(conn, f"about topic {n % RULES} please"))
                counts.add(server.rule_count)
                n += 1
                time.sleep(0.002)

        clients = [threading.Thread(target=requests) for _ in range(2)]
        for client in clients:
            client.start()
        try:
            subprocess.run([sys.executable, "-c", WRITER, str(path), str(RULES)], check=True, timeout=120)
            assert wait_for(lambda: ask(http.client.HTTPConnection("127.0.0.1", server.port), "topic 7 ")
                            == "v40 answer 7")
        finally:
            stop.set()
            for client in clients:
                client.join()
            watcher.stop()
    assert counts == {RULES}
    assert "FALLBACK" not in answers and len(answers) > 50
    assert "Reload failed" not in log.getvalue()
    assert watcher.reloads >= 4


def test_a_directory_reloads_once_every_changed_file_holds_still(tmp_path):
    (tmp_path / "a.json").write_text('[{"when": "a", "reply": "a1"}]')
    (tmp_path / "b.json").write_text('[{"when": "b", "reply": "b1"}]')
    loads = []
    watcher = Watcher(str(tmp_path), lambda: loads.append(time.monotonic()) or 2, _Quiet(), interval=0.02,
                      settle=0.3).start()
    try:
        started = time.monotonic()
        (tmp_path / "a.json").write_text('[{"when": "a", "reply": "a2"}]')
        for n in range(5):  # b keeps changing for a while after a is done
            time.sleep(0.1)
            (tmp_path / "b.json").write_text(f'[{{"when": "b", "reply": "b{n + 2}"}}]')
        last_write = time.monotonic()
        assert wait_for(lambda: loads)
        time.sleep(0.2)
    finally:
        watcher.stop()
    assert len(loads) == 1 and loads[0] - last_write >= 0.3 and loads[0] - started >= 0.8


def test_the_settle_time_is_an_option(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text('[{"when": "x", "reply": "one"}]')
    (tmp_path / "config.json").write_text(json.dumps({"rules": "rules.json", "watch": True, "watch_settle_ms": 0}))
    server = MockServer.from_json_config(str(tmp_path / "config.json"))
    runner = threading.Thread(target=server.run_until_shutdown)
    runner.start()
    try:
        assert wait_for(lambda: server._watcher is not None)
        assert server._watcher.settle == 0
    finally:
        server.stop()
        runner.join(5)


class _Quiet:
    def problem(self, level, message):
        raise AssertionError(message)

    def info(self, message):
        pass


def test_py_rules_load_from_source_and_write_nothing_beside_them(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # as for a user without PYTHONDONTWRITEBYTECODE
    path = tmp_path / "rules.py"
    path.write_text('rules = [{"when": "x", "reply": "one"}]\n')
    with MockServer() as server:
        server.load(str(path))
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        assert ask(conn, "x") == "one"
        stat = os.stat(path)
        path.write_text('rules = [{"when": "x", "reply": "two"}]\n')  # same size, and the same mtime
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert server.reload(str(path)) == 1
        assert ask(conn, "x") == "two"  # not the bytecode of the first version
    assert sorted(os.listdir(tmp_path)) == ["rules.py"]  # no __pycache__


@pytest.mark.parametrize("level, shown", [(None, True), ("error", True), ("info", True), ("none", False)])
def test_a_failed_reload_is_printed_at_every_level_but_none(tmp_path, level, shown):
    path = tmp_path / "rules.json"
    path.write_text('[{"when": "x", "reply": "one"}]')
    with MockServer(log_level=level) as server:
        server.log.stream = io.StringIO()
        server.load(str(path))
        watcher = Watcher(str(path), lambda: server.reload(str(path)), server.log, interval=0.02, settle=0.05)
        watcher.start()
        try:
            path.write_text('[{"when": "x", "reply": "two", "tmes": 1}]')
            if shown:
                assert wait_for(lambda: "Reload failed" in server.log.stream.getvalue())
            else:
                time.sleep(0.5)
        finally:
            watcher.stop()
        log = server.log.stream.getvalue()
        assert ("ERROR Reload failed, keeping the previous rules: " in log) == shown
        assert (f"{path}: rule 0: tmes: unknown key; did you mean times?" in log) == shown
        assert server.rule_count == 1
