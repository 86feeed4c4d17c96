"""Every option is checked once, whichever way it arrives (keyword arguments, config.json through
`from_json_config`, config.json through the command line), with one line naming the source and
the key; a server never starts with a value that would break every connection."""
from __future__ import annotations

import json

import pytest

from llm_mock import MockServer, MockServerOptions
from llm_mock.chaos import Chaos
from llm_mock.cli import main

BAD = [
    ("port", "8002"), ("port", -1), ("port", 70000), ("port", True),
    ("host", ""), ("host", "a b"), ("host", 5),
    ("log_level", "loud"), ("log_level", 3),
    ("default_latency", "x"), ("default_latency", -1),
    ("default_chunk_size", 2.5), ("default_chunk_size", -1),
    ("fallback", 12), ("fallback", {"txt": "typo"}), ("fallback", ["a"]),
    ("rules", 5), ("rules", ""),
    ("watch", "yes"),
    ("default_ttft", "x"), ("default_ttft", -1),
    ("default_tokens_per_second", 0), ("default_tokens_per_second", "fast"),
    ("default_jitter", -1),
    ("history_limit", "x"), ("history_limit", -1), ("history_limit", 1.5),
    ("max_body_size", "big"), ("max_body_size", 0),
    ("timeout", "abc"), ("timeout", -1),
    ("chaos", 5), ("chaos", "yes"),
    ("jitter_seed", "x"),
]
BAD_CHAOS = [
    ({"errorRate": "x"}, "chaos: rates must be numbers"),
    ({"errorRate": 0.5, "faults": {"disconnect": 0.7}}, "add up to at most 1"),
    ({"bogus": 1}, "chaos.bogus: unknown key"),
    ({"errorStatuses": [200]}, "error_statuses must be HTTP error statuses"),
    ({"errorStatuses": "500"}, "error_statuses must be a list"),
    ({"faults": {"explode": 0.1}}, "unknown fault kind"),
    ({"faults": [1]}, "faults must map"),
    ({"seed": [1]}, "seed must be an integer or a string"),
    ({"retryAfter": "soon"}, "retry_after must be a number"),
]


def write(tmp_path, data) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return str(path)


def one_error_line(capsys, argv) -> str:
    assert main(argv) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert captured.out == ""  # no banner: the server never started
    return lines[0]


@pytest.mark.parametrize("key, value", BAD)
def test_keyword_arguments_are_checked(key, value):
    with pytest.raises(ValueError) as raised:
        MockServer(**{key: value})
    assert str(raised.value).startswith(f"MockServerOptions: {key} ")
    with pytest.raises(ValueError):
        MockServerOptions(**{key: value})


@pytest.mark.parametrize("key, value", BAD)
def test_from_json_config_names_the_file_and_the_key(tmp_path, key, value):
    path = write(tmp_path, {key: value})
    with pytest.raises(RuntimeError) as raised:
        MockServer.from_json_config(path)
    assert str(raised.value).startswith(f"{path}: {key} ")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("key, value", BAD)
def test_the_command_line_names_the_file_and_the_key(tmp_path, capsys, key, value):
    path = write(tmp_path, {"port": 0, key: value})
    assert one_error_line(capsys, ["start", "--config", path]).startswith(f"llm-mock: error: {path}: {key} ")


@pytest.mark.parametrize("chaos, message", BAD_CHAOS)
def test_a_malformed_chaos_object_is_one_line(tmp_path, capsys, chaos, message):
    path = write(tmp_path, {"chaos": chaos})
    line = one_error_line(capsys, ["start", "--config", path])
    assert line.startswith(f"llm-mock: error: {path}: chaos") and message in line


def test_the_reproductions_of_silently_broken_servers(tmp_path, capsys):
    """Each of these used to start with a normal banner, then answer every request with nothing."""
    for data, words in (({"timeout": "abc"}, "timeout must be a number of seconds"),
                        ({"max_body_size": "big"}, "max_body_size must be a whole number of bytes"),
                        ({"chaos": 5}, "chaos must be a chaos object"),
                        ({"default_ttft": "x"}, "default_ttft must be a number of milliseconds"),
                        ({"history_limit": "x"}, "history_limit must be a whole number"),
                        ({"fallback": 12}, "fallback must be a reply")):
        path = write(tmp_path, data)
        assert one_error_line(capsys, ["start", "--config", path]).startswith(f"llm-mock: error: {path}: {words}")


def test_watch_without_rules_is_an_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert one_error_line(capsys, ["start", "--watch"]) == \
        "llm-mock: error: --watch needs rules to watch: -r PATH, or `rules` in config.json"
    path = write(tmp_path, {"watch": True})
    assert one_error_line(capsys, ["start", "--config", path]) == \
        f"llm-mock: error: {path}: watch needs rules to watch (-r PATH or `rules` in config.json)"
    with pytest.raises(RuntimeError, match="watch needs rules"):
        MockServer.from_json_config(path)


def test_watch_in_the_config_with_rules_from_the_command_line_is_fine(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text('[{"when": "hi", "reply": "hello"}]')
    from llm_mock.cli import _parser, server_options

    args = _parser().parse_args(["start", "--config", write(tmp_path, {"watch": True}), "-r", str(rules)])
    options = server_options(args)
    assert options.watch and options.rules == str(rules)


def test_every_option_from_a_config_file(tmp_path):
    (tmp_path / "rules.json").write_text('[{"when": "hi", "reply": "hello"}]')
    data = {"port": 0, "host": "127.0.0.1", "log_level": "none", "latency": 5, "chunkSize": 3,
            "fallback": {"text": "nothing matched"}, "rules": "rules.json", "watch": True, "default_ttft": 0,
            "default_tokens_per_second": 100, "default_jitter": 0, "history_limit": 0, "max_body_size": 1024,
            "timeout": 0, "chaos": {"seed": 3, "errorRate": 0.0, "errorStatuses": [500], "retryAfter": 0},
            "jitter_seed": 7}
    server = MockServer.from_json_config(write(tmp_path, data))
    assert server.rule_count == 1 and server.options.rules == str(tmp_path / "rules.json")
    assert isinstance(server.options.chaos, Chaos) and server.options.chaos.error_statuses == (500,)
    assert set(data) - {"latency", "chunkSize"} <= set(vars(server.options))


def test_a_default_server_checks_out():
    options = MockServerOptions()
    assert options.log_level is None and options.history_limit == 10_000
