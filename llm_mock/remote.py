"""`RemoteMockServer`: the rule-building API of `MockServer` over the admin API of a server running
elsewhere (another process, a container, a shared server for many test workers).

    with RemoteMockServer("http://mock:8000", session="w3") as server:
        server.when("hello").reply("Hi!").times(1)
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="test")
        ...
        assert server.history.last().last_message == "hello"

Rules travel in the rule-file dialect and are checked by the server as a file is; a rule holding a
Python callable cannot travel (`TypeError` naming it). Standard library only (`urllib`).
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from http.client import HTTPMessage
from typing import TYPE_CHECKING, Any, Optional, Union, cast
from urllib.parse import quote, urlencode

from . import dialect
from .chaos import Chaos
from .engine import RuleSummary
from .matching import MatchObject
from .near_miss import Check, NearMiss
from .replies import Reply, ReplyObject, ReplyOptions, normalise_reply
from .request import Message, MockRequest, ToolDef

if TYPE_CHECKING:
    import urllib.error

ADMIN = "/__llm_mock"

RemoteMatch = Union[str, "re.Pattern[str]", MatchObject, "dict[str, Any]"]
"""What a remote `when()` accepts: a `Match` without a Python callable (it cannot travel)."""
RemoteStep = Union[Reply, "tuple[Reply, ReplyOptions]"]
"""One step of a remote `reply_sequence`: a reply, `(reply, ReplyOptions)` or `{"reply": ..., "latency": ...}`."""


class RemoteError(RuntimeError):
    """The admin API answered with an error (`status`, `message`)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"llm_mock admin API: {status}: {message}")
        self.status, self.message = status, message


class RemoteMockServer:
    """A handle on a running llm_mock server (or one session of it) through its admin API."""

    def __init__(self, url: str, session: Optional[str] = None, token: Optional[str] = None,
                 timeout: float = 10.0):
        self.base_url = url.rstrip("/")
        self.session_id = session
        self.token = token if token is not None else os.environ.get("LLM_MOCK_ADMIN_TOKEN") or None
        self.timeout = timeout
        self.history = RemoteHistory(self)

    # -- the admin API --------------------------------------------------------------------------
    def call(self, method: str, path: str, body: Any = None,
             query: Optional[dict[str, str]] = None) -> tuple[int, Any, HTTPMessage]:
        """(status, JSON value, headers) of one admin request; an error status raises."""
        params = dict(query or {})
        if self.session_id is not None:
            params["session"] = self.session_id
        url = self.base_url + ADMIN + path + ("?" + urlencode(params) if params else "")
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"content-type": "application/json"} if data is not None else {}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        import urllib.error  # here: urllib.request costs `import llm_mock` (and the CLI's start) a tenth
        import urllib.request

        request = urllib.request.Request(url, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"null"), response.headers
        except urllib.error.HTTPError as failure:
            raise _error(failure) from None
        except (urllib.error.URLError, OSError) as failure:
            reason = getattr(failure, "reason", failure)
            raise ConnectionError(f"llm_mock: cannot reach the admin API at {self.base_url}: {reason}") from None

    @property
    def url(self) -> str:
        """The base URL clients use: the server's, with `/session/{id}` for a session handle."""
        return self.base_url + (f"/session/{quote(self.session_id, safe='')}" if self.session_id else "")

    def health(self) -> dict[str, Any]:
        return self.call("GET", "/health")[1]

    def session(self, name: str) -> RemoteMockServer:
        """A handle on session `name` of the same server (created on first use)."""
        return RemoteMockServer(self.base_url, name, self.token, self.timeout)

    def delete_session(self) -> None:
        """Remove this handle's session (its rules, counts and journal) from the server."""
        if self.session_id is None:
            raise ValueError("this handle is not on a session")
        try:
            self.call("DELETE", f"/sessions/{quote(self.session_id, safe='')}")
        except RemoteError as failure:
            if failure.status != 404:
                raise

    def __enter__(self) -> RemoteMockServer:
        self.health()  # fail here, clearly, when the server is not there
        return self

    def __exit__(self, *exc: object) -> None:
        if self.session_id is not None:
            self.delete_session()

    # -- rules ----------------------------------------------------------------------------------
    def when(self, match: RemoteMatch) -> RemotePendingRule:
        """Start a rule (a string, a compiled regex, a `MatchObject` or a dict of fields)."""
        return RemotePendingRule(self, match)

    def when_tool(self, name: str) -> RemotePendingRule:
        return self.when(MatchObject(tool_name=name))

    def when_tool_result(self, call_id: str) -> RemotePendingRule:
        return self.when(MatchObject(tool_call_id=call_id))

    def when_server_tool(self, tool_type: str) -> RemotePendingRule:
        return self.when(MatchObject(server_tool=tool_type))

    def add_rules(self, document: Union[dict[str, Any], list[dict[str, Any]]], first: bool = False,
                  replace: bool = False) -> list[dict[str, Any]]:
        """Post rules in the rule-file dialect (a rule, a list, or `{rules, templates?, fallback?}`)."""
        query = {key: "true" for key, on in (("first", first), ("replace", replace)) if on}
        return self.call("POST", "/rules", document, query)[1]["rules"]

    def load(self, path: str) -> int:
        """Send the rules of a local .json5 / .json file (a `.py` file cannot travel)."""
        from .loader import read_data

        if not path.endswith((".json5", ".json")):
            raise ValueError(f"{path}: only .json5 and .json rule files can be sent to a remote server")
        rules = self.add_rules(read_data(path))
        return len(rules)

    def next_error(self, status: int, message: Optional[str] = None, type: Optional[str] = None,
                   **error_fields: Any) -> RemoteRuleHandle:
        """The next request (any route) gets this HTTP error."""
        from .replies import ErrorReply

        body = dialect.error(ErrorReply(status, message, type, **error_fields))
        return RemoteRuleHandle(self, self.call("POST", "/next-error", body)[1])

    def fallback(self, reply: Reply) -> None:
        """The reply when no rule matches (None: the default)."""
        self.call("POST", "/fallback", {"reply": None if reply is None else dialect.reply(reply)})

    def reset(self) -> None:
        """Clear rules, history and the fallback (of this session, for a session handle)."""
        self.call("POST", "/reset", {})

    def is_done(self) -> bool:
        return bool(self.call("GET", "/done")[1]["done"])

    @property
    def rules(self) -> list[RuleSummary]:
        """`RuleSummary(description, remaining)` for each rule (`inf` when unlimited)."""
        return [RuleSummary(r["description"], float("inf") if r["remaining"] is None else r["remaining"])
                for r in self.call("GET", "/rules")[1]]

    @property
    def rule_count(self) -> int:
        return len(self.call("GET", "/rules")[1])


class RemotePendingRule:
    """`when(match)` on a remote server: nothing is sent until `.reply()` / `.reply_sequence()`."""

    def __init__(self, server: RemoteMockServer, match: RemoteMatch):
        self._server = server
        self._rule: dict[str, Any] = {"when": dialect.match(match)}  # a callable fails here, where it was written

    def times(self, n: int) -> RemotePendingRule:
        self._rule["times"] = _count(n)
        return self

    def first(self) -> RemotePendingRule:
        self._rule["first"] = True
        return self

    def chaos(self, chaos: Chaos) -> RemotePendingRule:
        self._rule["chaos"] = dialect.chaos(chaos)
        return self

    def reply(self, reply: Reply, options: Optional[ReplyOptions] = None,
              **option_kw: Optional[float]) -> RemoteRuleHandle:
        return self._send({"reply": dialect.reply(reply), **_options(options, option_kw)})

    def reply_sequence(self, entries: Sequence[RemoteStep], options: Optional[ReplyOptions] = None,
                       **option_kw: Optional[float]) -> RemoteRuleHandle:
        if not isinstance(entries, (list, tuple)) or not entries:
            raise ValueError("Sequence requires at least one entry.")
        return self._send({"replies": [dialect.step(entry) for entry in entries], **_options(options, option_kw)})

    def _send(self, parts: dict[str, Any]) -> RemoteRuleHandle:
        [added] = self._server.add_rules({**self._rule, **parts})
        return RemoteRuleHandle(self._server, added)


class RemoteRuleHandle:
    """A rule on the server: `times(n)`, `first()` and `chaos()` still apply after `.reply()`."""

    def __init__(self, server: RemoteMockServer, listed: dict[str, Any]):
        self._server = server
        self.id: str = listed["id"]
        self.description: str = listed["description"]

    def _change(self, **fields: Any) -> RemoteRuleHandle:
        self._server.call("PATCH", f"/rules/{self.id}", fields)
        return self

    def times(self, n: int) -> RemoteRuleHandle:
        return self._change(times=_count(n))

    def first(self) -> RemoteRuleHandle:
        return self._change(first=True)

    def chaos(self, chaos: Chaos) -> RemoteRuleHandle:
        return self._change(chaos=dialect.chaos(chaos))

    def remove(self) -> None:
        self._server.call("DELETE", f"/rules/{self.id}")


# -- the journal --------------------------------------------------------------------------------
class RemoteEntry:
    """A journal entry of the remote server, read like a `RecordedRequest`: `entry.rule`,
    `entry.status`, `entry.near_misses`, and the normalised request's fields (`entry.last_message`)."""

    def __init__(self, server: RemoteMockServer, data: dict[str, Any]):
        self._server, self._data = server, data
        self._detail: Optional[dict[str, Any]] = None
        self.id: int = data["id"]
        self.method: str = data["method"]
        self.path: str = data["path"]
        self.format: Optional[str] = data["format"]
        self.status: int = data["status"]
        self.outcome: str = data["outcome"]
        self.rule: Optional[str] = data["rule"]
        self.duration_ms: float = data["duration_ms"]
        self.timestamp: float = data["timestamp"]
        self.session: Optional[str] = data.get("session")
        misses = data["near_misses"]
        self.near_misses: Optional[list[NearMiss]] = None if misses is None else [_near_miss(m) for m in misses]
        self.request = _request(data["request"], data["path"])

    def _details(self) -> dict[str, Any]:
        if self._detail is None:
            self._detail = dict(self._server.call("GET", f"/history/{self.id}")[1])
        return self._detail

    @property
    def headers(self) -> dict[str, str]:
        return self._details()["headers"]

    @property
    def body(self) -> bytes:
        detail = self._details()
        if detail.get("body_base64"):
            import base64

            return base64.b64decode(detail["body_base64"])
        return detail["body"].encode("utf-8")

    @property
    def reply(self) -> Optional[ReplyObject]:
        data = self._details()["reply"]
        return None if data is None else normalise_reply(data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or self.__dict__.get("request") is None:
            raise AttributeError(name)
        return getattr(self.request, name)

    def __repr__(self) -> str:
        return (f"RemoteEntry({self.method} {self.path} status={self.status} rule={self.rule!r} "
                f"outcome={self.outcome!r})")


class RemoteHistory:
    """The remote journal, read on each call (newest last), like `RequestHistory`."""

    def __init__(self, server: RemoteMockServer):
        self._server = server

    def _entries(self, **query: object) -> tuple[list[RemoteEntry], int]:
        status, data, headers = self._server.call("GET", "/history", query={k: str(v) for k, v in query.items()})
        return [RemoteEntry(self._server, item) for item in data], int(headers.get("x-total-count", len(data)))

    def count(self) -> int:
        return self._entries(limit=0)[1]

    __len__ = count

    def last(self) -> Optional[RemoteEntry]:
        entries = self._entries(limit=1)[0]
        return entries[-1] if entries else None

    def first(self) -> Optional[RemoteEntry]:
        entries = self.all
        return entries[0] if entries else None

    def at(self, index: int) -> Optional[RemoteEntry]:
        try:
            return self.all[index]
        except IndexError:
            return None

    def where(self, predicate: Callable[[RemoteEntry], bool]) -> list[RemoteEntry]:
        return [entry for entry in self.all if predicate(entry)]

    def filter(self, **query: object) -> list[RemoteEntry]:
        """Entries the server selects: `format=`, `status=`, `outcome=`, `rule=`, `path=`, `since_id=`, `limit=`."""
        return self._entries(**query)[0]

    @property
    def all(self) -> _Entries:
        return _Entries(self._entries()[0])

    def clear(self) -> None:
        self._server.call("DELETE", "/history")

    def __iter__(self) -> Iterator[RemoteEntry]:
        return iter(self.all)

    def __bool__(self) -> bool:
        return True


class _Entries(tuple[RemoteEntry, ...]):
    """`history.all` is a tuple; calling it (`history.all()`) returns the same."""

    def __call__(self) -> _Entries:
        return self


# -- helpers --------------------------------------------------------------------------------
def _error(failure: urllib.error.HTTPError) -> Exception:
    try:
        body = json.loads(failure.read())
        message = body["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = failure.reason or "error"
    if failure.code == 400:
        return ValueError(message)
    if failure.code == 401:
        return PermissionError(f"llm_mock admin API: {message} (pass token= or set LLM_MOCK_ADMIN_TOKEN)")
    return RemoteError(failure.code, message)


def _count(n: object) -> int:
    if not isinstance(n, int) or isinstance(n, bool):
        raise ValueError("times(n) needs an integer")
    return n


def _options(options: Optional[ReplyOptions], option_kw: dict[str, Optional[float]]) -> dict[str, Any]:
    if options is not None and not isinstance(options, ReplyOptions):
        raise ValueError("options must be a ReplyOptions")
    return dialect.options(ReplyOptions(**cast("dict[str, Any]", option_kw)).over(options or ReplyOptions()))


def _near_miss(data: dict[str, Any]) -> NearMiss:
    checks = tuple(Check(c["name"], c["held"], c["expected"], c["got"]) for c in data["conditions"])
    return NearMiss(data["rule"], data["index"], int(data["rule_id"].lstrip("r")), data["source"], data["session"],
                    checks)


def _request(data: Optional[dict[str, Any]], path: str) -> Optional[MockRequest]:
    """The normalised request rebuilt from the journal's JSON."""
    if data is None:
        return None
    messages = [Message(m["role"], m["content"], m.get("tool_call_id")) for m in data["messages"]]
    tools = [ToolDef(t["name"], t.get("description"), t.get("parameters"), t.get("type", "function"))
             for t in data["tools"]]
    return MockRequest(format=data["format"], model=data["model"], stream=data["stream"], messages=messages,
                       last_message=data["last_message"], system_message=data["system"], tools=tools,
                       tool_names=tuple(t.name for t in tools), server_tool_types=tuple(data["server_tools"]),
                       last_tool_call_id=data["last_tool_call_id"], path=path, max_tokens=data["max_tokens"])
