"""Watch mode: edits are picked up within a second, swapped in whole, and a broken edit changes nothing."""
from __future__ import annotations

import io
import os
import threading

import pytest

from llm_mock import MockServer
from llm_mock.log import Logger
from llm_mock.watch import Watcher
from support.clients import openai_client, say
from support.raw_http import wait_for
from test_cli import Served


@pytest.fixture
def watched(tmp_path):
    """A server on rules.json5 with a watcher, logging into a buffer."""
    path = tmp_path / "rules.json5"
    path.write_text('{fallback: "fallback one", rules: [{when: "x", reply: "version one"}]}')
    with MockServer(fallback="configured fallback") as server:
        server.log = Logger("info", stream=io.StringIO())
        server.load(str(path))
        watcher = Watcher(str(path), lambda: server.reload(str(path)), server.log).start()
        client = openai_client(server)
        yield server, path, client
        watcher.stop()


def test_an_edit_is_served_within_a_second_and_history_survives(watched):
    server, path, client = watched
    assert say(client, "x") == "version one"
    assert say(client, "zzz") == "fallback one"
    path.write_text('{fallback: "fallback two", rules: [{when: "x", reply: "version two, edited"}]}')
    assert wait_for(lambda: say(client, "x") == "version two, edited") < 1.0
    assert say(client, "zzz") == "fallback two"  # the file's new fallback, not the first one
    assert server.history.first().last_message == "x" and server.history.count() >= 4
    path.write_text('[{when: "x", reply: "version three"}]')  # no fallback in the file: the configured one
    wait_for(lambda: say(client, "x") == "version three")
    assert say(client, "zzz") == "configured fallback"
    assert "Reloaded 1 rule(s) from" in server.log.stream.getvalue()


def test_a_broken_edit_keeps_the_previous_rules_and_says_where(watched):
    server, path, client = watched
    path.write_text('{rules: [{when: "x", reply: "fine"}, {when: {toolNmae: "t"}, reply: "y"}]}')
    log = server.log.stream
    wait_for(lambda: "Reload failed" in log.getvalue())
    assert f"Reload failed, keeping the previous rules: {path}: rule 1: when.toolNmae: unknown key; " \
           "did you mean toolName?" in log.getvalue()
    assert say(client, "x") == "version one" and say(client, "zzz") == "fallback one"
    path.write_text('{rules: [{when: "x", reply: "fixed"}, // now valid\n]}')
    wait_for(lambda: say(client, "x") == "fixed")
    path.write_text("{rules: [")  # a syntax error
    wait_for(lambda: log.getvalue().count("Reload failed") == 2)
    assert "invalid JSON5" in log.getvalue().splitlines()[-1]
    assert say(client, "x") == "fixed"


def test_a_directory_notices_added_and_removed_files(tmp_path):
    (tmp_path / "a.json5").write_text('[{when: "a", reply: "from a"}]')
    with MockServer() as server:
        server.load(str(tmp_path))
        watcher = Watcher(str(tmp_path), lambda: server.reload(str(tmp_path)), server.log).start()
        client = openai_client(server)
        try:
            (tmp_path / "sub").mkdir()
            (tmp_path / "sub" / "b.json").write_text('[{"when": "b", "reply": "from b"}]')
            wait_for(lambda: say(client, "b") == "from b")
            os.remove(tmp_path / "a.json5")
            wait_for(lambda: say(client, "a") != "from a")
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
        # reloads are driven by hand here, no polling thread
        watcher = Watcher(str(path), lambda: server.reload(str(path)), server.log)
        client = openai_client(server)
        answers, stop = [], threading.Event()

        def hammer():
            while not stop.is_set():
                answers.append(say(client, "x"))

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
        assert say(client, "x") == "before"
        rules.write_text('[{when: "x", reply: "after the edit"}]')
        assert wait_for(lambda: say(client, "x") == "after the edit") < 1.0
        served.stop()
        assert f"Reloaded 1 rule(s) from {rules}" in served.log()
