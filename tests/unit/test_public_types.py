"""The public API is typed for its users: a typical test module type-checks under `mypy --strict`, and
misuse (a wrong matcher, reply, option or field) is a type error, not an `Any` that lets it through."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api", reason="mypy is not installed")

ROOT = Path(__file__).resolve().parents[2]

GOOD = '''
from __future__ import annotations

import re
from collections.abc import Iterator

from llm_mock import (Chaos, ErrorReply, Fault, MatchObject, Message, MockRequest, MockServer, MockServerOptions,
                      RecordedRequest, RemoteMockServer, ReplyObject, ReplyOptions, RequestHistory, RuleHandle,
                      RuleSummary, ToolCall, ToolDef)
from llm_mock.matching import Match
from llm_mock.replies import Reply, Resolver
from llm_mock.testing import AsyncMockServerTestCase, MockServerTestCase


def by_tools(request: MockRequest) -> bool:
    tools: list[ToolDef] = request.tools or []
    names: tuple[str, ...] = request.tool_names
    messages: list[Message] = request.messages
    headers: dict[str, str] = request.headers
    return bool(tools) and "lookup" in names and len(messages) > 0 and "authorization" in headers


def echo(request: MockRequest) -> str:
    return request.last_message


async def later(request: MockRequest) -> ReplyObject:
    return ReplyObject(text=request.model)


def rules(server: MockServer) -> list[RuleHandle]:
    matchers: list[Match] = ["hi", re.compile("h[aeiou]", re.I), MatchObject(model="gpt"), {"toolName": "x"}, by_tools]
    replies: list[Resolver] = ["text", ReplyObject(text="t"), ErrorReply(429), {"text": "d"}, echo, later,
                               Fault("disconnect"), None, lambda r: r.model]
    handles = [server.when(m).reply(r) for m, r in zip(matchers, replies)]
    handles.append(server.when("x").times(2).first().reply("y", latency=5, chunk_size=3).times(1).first())
    handles.append(server.when(lambda r: r.stream).reply(ReplyObject(tools=[ToolCall("f", {"a": 1}, "id1")])))
    handles.append(server.when(MatchObject(predicate=lambda r: r.n > 1, turn=2)).reply({"tools": [{"name": "f"}]}))
    handles.append(server.when_tool("t").reply("a", ReplyOptions(latency=1)))
    handles.append(server.when_tool_result("call_1").reply_sequence(["a", ("b", ReplyOptions(chunk_size=2)),
                                                                     {"reply": "c", "latency": 3}]))
    handles.append(server.when_server_tool("web_search").chaos(Chaos(seed=1, error_rate=0.5)).reply("s"))
    handles.append(server.next_error(503, "down", retry_after=1.5))
    server.fallback("nothing")
    server.fallback(echo)
    summaries: list[RuleSummary] = server.rules
    remaining: float = summaries[0].remaining
    done: bool = server.is_done()
    return handles if done or remaining else []


def read(history: RequestHistory) -> Iterator[RecordedRequest]:
    last = history.last()
    if last is not None:
        status: int = last.status
        headers: dict[str, str] = last.headers
        request: MockRequest | None = last.request
        reply: ReplyObject | None = last.reply
        assert status and headers and request and reply
    chosen: list[RecordedRequest] = history.where(lambda entry: entry.status == 200)
    count: int = history.count()
    assert chosen or count >= 0
    yield from history


def lifecycle() -> str:
    options = MockServerOptions(port=0, fallback="f", chaos=Chaos(faults={"disconnect": 0.1}))
    with MockServer(options, log_level="info") as server:
        rules(server)
        added: int = server.load("rules.json5")
        session = server.session("w1")
        session.when("hi").reply("there")
        list(read(server.history))
        list(read(session.history))
        server.reset()
        port: int = server.port
        assert added + port
        return server.url + session.url


def remote() -> None:
    with RemoteMockServer("http://localhost:8000", session="w1") as server:
        server.when("hi").times(1).reply({"text": "there"}, latency=2).first()
        server.when(MatchObject(format="openai")).reply_sequence(["a", ("b", ReplyOptions(latency=1))])
        server.next_error(429)
        server.fallback(ReplyObject(text="x"))
        entry = server.history.last()
        status: int | None = entry.status if entry is not None else None
        summaries: list[RuleSummary] = server.rules
        assert status or summaries or server.is_done()


class Example(MockServerTestCase):
    def test_it(self) -> None:
        self.server.when("hi").reply("there")
        self.assertEqual(self.server.history.count(), 0)


class AsyncExample(AsyncMockServerTestCase):
    async def test_it(self) -> None:
        await self.server.stop()


def test_fixture(llm_mock: MockServer) -> None:
    llm_mock.when("hi").reply("there")


def reply_values() -> list[Reply]:
    return ["a", ReplyObject(), ErrorReply.rate_limited(1), ErrorReply.overloaded(), {"text": "b"}, None]
'''

# Each `# E: code` line must be reported with that error code; nothing else may be.
BAD = '''
from __future__ import annotations

from llm_mock import ErrorReply, MatchObject, MockRequest, MockServer, RemoteMockServer, ReplyObject, ToolCall


def wrong(server: MockServer, remote: RemoteMockServer) -> None:
    server.when(42)  # E: arg-type
    server.when("a").reply(42)  # E: arg-type
    server.when("a").reply(lambda r: r.nonexistent)  # E: attr-defined
    server.when("a").reply("b", latency="fast")  # E: arg-type
    server.when("a").reply_sequence([3])  # E: list-item
    server.when(lambda r: r.last_message.nope)  # E: attr-defined
    server.when("a").chaos("often")  # E: arg-type
    server.fallback(3.5)  # E: arg-type
    MatchObject(predicate=lambda r: r.modle == "x")  # E: attr-defined
    MatchObject(turn="2")  # E: arg-type
    ReplyObject(tools=["lookup"])  # E: list-item
    ToolCall("f", args=3)  # E: arg-type
    ErrorReply(429, headers={"retry-after": 1})  # E: dict-item
    port: str = server.port  # E: assignment
    rules: list[str] = server.rules  # E: assignment
    entry = server.history.last()
    entry.status  # E: union-attr
    messages: list[str] = entry.request.messages if entry and entry.request else []  # E: assignment
    names: list[str] = server.history.where(lambda e: e.status == 200)  # E: assignment
    for recorded in server.history:
        recorded.rule.upper()  # E: union-attr
    remote.when(lambda r: True)  # E: arg-type
    remote.when("a").reply(lambda r: "x")  # E: arg-type
    remote_rules: list[str] = remote.rules  # E: assignment
    remote_entry = remote.history.last()
    remote_entry.status  # E: union-attr


def request_fields(request: MockRequest) -> None:
    tools: list[str] = request.tools or []  # E: assignment
    names: list[str] = request.tool_names  # E: assignment
    headers: dict[str, int] = request.headers  # E: assignment
    first: str = request.messages[0]  # E: assignment
'''

_REPORTED = re.compile(r"^[^:\n]+\.py:(\d+): error: .*\[([\w-]+)\]$", re.MULTILINE)


def check(tmp_path: Path, name: str, source: str) -> tuple[set, str]:
    """(line, error code) of every error `mypy --strict` reports in `source` (the package itself is
    checked under its own settings, so only the user's module is held to `--strict`)."""
    (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    config = tmp_path / "mypy.ini"
    config.write_text(f"[mypy]\nmypy_path = {ROOT}\nfollow_imports = silent\n"
                      "[mypy-json5.*]\nignore_missing_imports = True\n", encoding="utf-8")
    out, err, status = api.run(["--strict", "--config-file", str(config), "--cache-dir", str(tmp_path / "cache"),
                                "--no-error-summary", "--show-error-codes", str(tmp_path / f"{name}.py")])
    assert status in (0, 1), err or out  # 2: mypy itself failed
    return {(int(line), code) for line, code in _REPORTED.findall(out)}, out


def expected(source: str) -> set:
    return {(number, line.rsplit("# E: ", 1)[1].strip())
            for number, line in enumerate(source.splitlines(), 1) if "# E: " in line}


def test_typical_use_checks_under_strict(tmp_path):
    errors, out = check(tmp_path, "typical_use", GOOD)
    assert errors == set(), out


def test_misuse_is_a_type_error(tmp_path):
    errors, out = check(tmp_path, "misuse", BAD)
    assert len(expected(BAD)) == 27
    assert errors == expected(BAD), out
