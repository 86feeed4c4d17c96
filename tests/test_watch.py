"""Watch mode: edits are picked up within a second, swapped in whole, and a broken edit changes nothing."""
from __future__ import annotations

import io
import os
import threading
import time

import openai
import pytest

from llm_mock import MockServer
from llm_mock.log import Logger
from llm_mock.watch import Watcher
from test_cli import Served


def ask(client: openai.OpenAI, text: str = "x") -> str:
    reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}])
    return reply.choices[0].message.content


def wait_for(condition, timeout: float = 3.0, every: float = 0.02) -> float:
    """Seconds until `condition()` held; fails after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not true after {timeout}s")
        time.sleep(every)
    return time.monotonic() - started


@pytest.fixture
def watched(tmp_path):
    """A server on rules.json5 with a watcher, logging into a buffer."""
    path = tmp_path / "rules.json5"
    path.write_text('{fallback: "fallback one", rules: [{when: "x", reply: "version one"}]}')
    with MockServer(fallback="configured fallback") as server:
        server.log = Logger("info", stream=io.StringIO())
        server.load(str(path))
        watcher = Watcher(str(path), lambda: server.reload(str(path)), server.log).start()
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0,
                               _strict_response_validation=True)
        yield server, path, client
        watcher.stop()


def test_an_edit_is_served_within_a_second_and_history_survives(watched):
    server, path, client = watched
    assert ask(client) == "version one"
    assert ask(client, "zzz") == "fallback one"
    path.write_text('{fallback: "fallback two", rules: [{when: "x", reply: "version two, edited"}]}')
    assert wait_for(lambda: ask(client) == "version two, edited") < 1.0
    assert ask(client, "zzz") == "fallback two"  # the file's new fallback, not the first one
    assert server.history.first().last_message == "x" and server.history.count() >= 4
    path.write_text('[{when: "x", reply: "version three"}]')  # no fallback in the file: the configured one
    wait_for(lambda: ask(client) == "version three")
    assert ask(client, "zzz") == "configured fallback"
    assert "Reloaded 1 rule(s) from" in server.log.stream.getvalue()


def test_a_broken_edit_keeps_the_previous_rules_and_says_where(watched):
    server, path, client = watched
    path.write_text('{rules: [{when: "x", reply: "fine"}, {when: {toolNmae: "t"}, reply: "y"}]}')
    log = server.log.stream
    wait_for(lambda: "Reload failed" in log.getvalue())
    assert f"Reload failed, keeping the previous rules: {path}: rule 1: when.toolNmae: unknown key; " \
           "did you mean toolName?" in log.getvalue()
    assert ask(client) == "version one" and ask(client, "zzz") == "fallback one"
    path.write_text('{rules: [{when: "x", reply: "fixed"}, // now valid\n]}')
    wait_for(lambda: ask(client) == "fixed")
    path.write_text("{rules: [")  # a syntax error
    wait_for(lambda: log.getvalue().count("Reload failed") == 2)
    assert "invalid JSON5" in log.getvalue().splitlines()[-1]
    assert ask(client) == "fixed"


def test_a_directory_notices_added_and_removed_files(tmp_path):
    (tmp_path / "a.json5").write_text('[{when: "a", reply: "from a"}]')
    with MockServer() as server:
        server.load(str(tmp_path))
        watcher = Watcher(str(tmp_path), lambda: server.reload(str(tmp_path)), server.log).start()
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
        try:
            (tmp_path / "sub").mkdir()
            (tmp_path / "sub" / "b.json").write_text('[{"when": "b", "reply": "from b"}]')
            wait_for(lambda: ask(client, "b") == "from b")
            os.remove(tmp_path / "a.json5")
            wait_for(lambda: ask(client, "a") != "from a")
            assert server.rule_count == 1
        finally:
            watcher.stop()


def test_reloads_swap_the_whole_set_so_requests_never_see_a_gap(tmp_path):
    """Requests racing a hundred reloads only ever get an old or a new answer, never the fallback."""
    path = tmp_path / "rules.json5"
    versions = [f'[{{when: "x", reply: "v{n}"}}, {{when: "y", reply: "v{n}"}}]' for n in (1, 2)]
    path.write_text(versions[0])
    with MockServer(fallback="GAP") as server:
        server.load(str(path))
        watcher = Watcher(str(path), lambda: server.reload(str(path)), server.log)  # reloads are driven by hand here, no polling thread
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
        answers, stop = [], threading.Event()

        def hammer():
            while not stop.is_set():
                answers.append(ask(client))

        thread = threading.Thread(target=hammer)
        thread.start()
        for n in range(100):
            path.write_text(versions[n % 2])
            assert watcher.reload()
        stop.set()
        thread.join()
    assert len(answers) > 20 and set(answers) <= {"v1", "v2"}, (len(answers), set(answers))


def test_cli_watch_reloads_edits(tmp_path):
    rules = tmp_path / "rules.json5"
    rules.write_text('[{when: "x", reply: "before"}]')
    with Served(["start", "-p", "0", "-r", str(rules), "-w", "--log-level", "info"], cwd=str(tmp_path)) as served:
        assert "watching for changes" in served.banner
        client = served.openai()
        assert ask(client) == "before"
        rules.write_text('[{when: "x", reply: "after the edit"}]')
        assert wait_for(lambda: ask(client) == "after the edit") < 1.0
        served.stop()
        assert f"Reloaded 1 rule(s) from {rules}" in served.log()
