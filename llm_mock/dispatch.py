"""Dispatch: one request from the route table to its answer, and the outcome of each request.

    connection → route table → handler (or: adapter.parse → engine.resolve → build_completion
    → adapter.render → framing) → responder → socket

Every failure maps to one error answer here, in the shape of the adapter that owns the route
(or that the path and headers point to): a bad body is a 400, an unknown path a 404, a known path
with the wrong method a 405 with `Allow`, a raising rule a 500 naming it. The access log line is
written here too.
"""
from __future__ import annotations

import json
import time
from operator import attrgetter
from typing import Any, NoReturn, Optional
from urllib.parse import parse_qsl

from . import formats
from .cors import preflight_headers, response_headers
from .engine import RuleError
from .faults import CONNECTION_END, apply_fault
from .formats.base import Answer, Call, FormatAdapter, json_body
from .framing import Frame, dumps
from .history import RecordedRequest
from .http_request import HeadError, read_body
from .http_response import response_head
from .log import describe_reply, describe_request, redact, shorten
from .pacing import schedule
from .replies import ErrorReply, build_completion
from .request import RequestError
from .resolving import resolve
from .responder import CLIENT_GONE, JSON_TYPE, Responder
from .sessions import PREFIX as SESSION_PREFIX
from .sessions import SESSION_HEADER
from .sessions import split as split_session

_DATA = attrgetter("data")  # a frame's bytes, read in C


class Rejected(Exception):
    """A request refused before it reached a handler (size, route, method)."""

    def __init__(self, status: int, message: str, close: bool = False, headers: tuple = ()):
        super().__init__(message)
        self.error = ErrorReply(status, message, "invalid_request_error" if status < 500 else None)
        self.close = close
        self.headers = list(headers)


def serve(conn: Any, method: str) -> None:
    """Answer one request read by `conn` (a `Connection`)."""
    app = conn.server.app
    started = time.monotonic()
    target = conn.path
    path, _, query = target.partition("?")
    table = formats.table()
    headers = conn.headers.joined
    session = None
    if path.startswith(SESSION_PREFIX) or SESSION_HEADER in headers:
        session, path = split_session(path, headers)
        target = path + (f"?{query}" if query else "")
    match = table.match("GET" if method == "HEAD" else method, path)
    if match is None:
        adapter = table.adapter_for(path, headers)
    else:
        adapter = table.by_headers(headers) if match.route.by_headers else match.adapter
    completion_route = match is not None and match.route.handler is None
    request_id = adapter.new_request_id()
    entry = RecordedRequest(adapter.name if completion_route else None, method, target, conn.headers.pairs, b"",
                            None, 0, time.time(), 0, "ok", None, _reparse)
    cors = app.options.cors and "origin" in headers
    out = Responder(conn, entry, app.history if adapter.journal else _UNRECORDED, method == "HEAD",
                    response_headers(headers) if cors else ())
    out.capture = app.log.enabled("all")  # the full bodies go to the log
    request, resolution = None, None
    scope = None
    try:
        if session is not None:
            scope = app.sessions.get(session)  # a bad name: 400
            entry.session = scope.name
            if adapter.journal:
                out.history = scope.history
        if match is None:
            _drain(conn, app)
            _unrouted(table, method, path, target)
        body = entry.body = _read_body(conn, app.options.max_body_size)
        call = Call(method, path, match.params, dict(parse_qsl(query)) if query else {}, headers, body, app,
                    match.route, target, session)
        handler = match.route.handler
        if handler is None:
            request = adapter.parse(json_body(call), call)
            request.body = body
            if request.stateful:  # built from server state: the bytes alone could not rebuild it later
                entry.keep(request)
            resolution = resolve(app, request, entry, scope)
            entry.rule = resolution.rule
            # a miss concerns record/ only with a record or replay option set (else it is not even imported)
            miss_or_recording = (resolution.rule is None and app.records) or resolution.reply.replayed
            if not (miss_or_recording and app.recordings.answer(out, adapter, call, request, resolution, request_id,
                                                                entry)):  # record/: forward, replay exactly
                _complete(app, out, adapter, request, resolution, request_id)
        else:
            _send_answer(out, adapter, handler(call, adapter), request_id)
    except _Options as options:
        out.send(204, options.headers + (preflight_headers(headers, options.allowed) if cors else []), b"")
    except Rejected as rejected:
        if rejected.close:
            conn.close_connection = True
        out.send_error(adapter, rejected.error, request_id, "rejected", rejected.headers)
    except RequestError as bad:
        out.send_error(adapter, ErrorReply(bad.status, bad.message, bad.type, bad.code, bad.param), request_id)
    except RuleError as failure:
        entry.rule = failure.description
        import traceback  # failures only: a server start need not load it

        app.log.error(f"{failure}\n{''.join(traceback.format_exception(failure.cause))}")
        out.send_error(adapter, ErrorReply(500, f"llm_mock: {failure}"), request_id, "rule error")
    except CLIENT_GONE:
        out.publish(200, "disconnected")
        conn.close_connection = True
    except Exception as exc:  # a defect of the server's own: answer 500 if nothing went out yet, and say so
        conn.close_connection = True
        app.log.problem("error", f"{method} {shorten(redact(target))} failed inside llm_mock: "
                                 f"{type(exc).__name__}: {exc}")
        import traceback

        app.log.debug(traceback.format_exc())
        if not out.published:
            try:
                out.send_error(adapter, ErrorReply(500, f"llm_mock internal error: {type(exc).__name__}"),
                               request_id, "server error")
            except OSError:
                pass
        out.publish(500, "server error")
    out.publish(entry.status, entry.outcome)
    conn.reader.deadline = None
    entry.duration_ms = (time.monotonic() - started) * 1000
    if app.log.enabled("info" if adapter.journal else "debug"):
        _log(app, method, conn.path, request, entry, started, resolution)
        if out.capture:
            app.log.bodies(entry.body, out.sent)


def _unrouted(table: Any, method: str, path: str, target: str) -> NoReturn:
    """The error for a request no route takes: 204 to OPTIONS, 405 to a known path, else 404."""
    allowed = table.allowed(path)
    if "GET" in allowed and "HEAD" not in allowed:
        allowed.append("HEAD")
    if allowed and method == "OPTIONS":
        raise _Options(allowed)
    if allowed:
        raise Rejected(405, f"Method {method} not allowed on {path}; use {' or '.join(allowed)}.",
                       headers=(("allow", ", ".join(allowed)),))
    raise Rejected(404, f"Invalid URL ({method} {redact(target)})")


class _Unrecorded:
    """The history of requests kept out of the journal (the admin API's own)."""

    def record(self, entry: RecordedRequest) -> None:
        pass


_UNRECORDED = _Unrecorded()


class _Options(Rejected):
    def __init__(self, allowed: list):
        super().__init__(204, "")
        self.allowed = [*allowed, "OPTIONS"]
        self.headers = [("allow", ", ".join(self.allowed))]


def _send_answer(out: Responder, adapter: FormatAdapter, result: Any, request_id: str) -> None:
    """What a route handler returned: a JSON value (200) or an `Answer`."""
    if not isinstance(result, Answer):
        result = Answer(result)
    headers = [(adapter.request_id_header, request_id), *result.headers]
    if isinstance(result.body, bytes):
        out.send(result.status, [("content-type", result.media_type), *headers], result.body)
    else:
        out.send(result.status, [("content-type", result.media_type), *headers], dumps(result.body).encode("utf-8"))


# -- the completion flow ---------------------------------------------------------------------
def _complete(app: Any, out: Responder, adapter: FormatAdapter, request: Any, resolution: Any,
              request_id: str) -> None:
    """Send the reply for a resolved request."""
    reply = resolution.reply
    options = resolution.options.over(app.reply_defaults)
    error, fault = reply.error, reply.fault
    chaos = resolution.chaos or app.options.chaos
    if chaos is not None and error is None and fault is None:
        error, fault = chaos.decide(app.chaos_counter.next())
    if request.background:  # Responses `background: true`: answered now, completed on the store's clock
        completion = None if error is not None else build_completion(request, reply, options.chunk_size or 0, fault)
        _send_answer(out, adapter, adapter.defer(request, completion, error, fault, options), request_id)
        return
    if error is not None:
        out.send_error(adapter, error, request_id, resolution.outcome or "error reply")
        return
    completion = build_completion(request, reply, options.chunk_size or 0, fault)
    if request.stream:
        _stream(app, out, adapter, request, completion, options, fault, request_id)
    else:
        _json(out, adapter, request, completion, options, fault, request_id)


def _json(out: Responder, adapter: FormatAdapter, request: Any, completion: Any, options: Any, fault: Any,
          request_id: str) -> None:
    outcome = "ok" if fault is None else f"fault {fault.kind}"
    body = dumps(adapter.render_json(request, completion)).encode("utf-8")
    delay = (options.ttft or 0) / 1000
    if options.tokens_per_second:
        delay += completion.output_tokens / options.tokens_per_second
    if delay > 0:
        time.sleep(delay)
    headers = [JSON_TYPE, (adapter.request_id_header, request_id)]
    if fault is not None and fault.kind != "incomplete":
        if fault.kind in ("error", "failed"):
            out.send_error(adapter, fault.error or ErrorReply(500), request_id, outcome)
            return
        if fault.kind == "empty":
            body = b""
        elif fault.kind == "malformed":
            body = body[: len(body) // 2]
        else:  # disconnect, truncate, stall, reset: part of the body (or nothing), then the end
            sent = response_head(200, headers, len(body)) + body[: len(body) // 2] if fault.kind == "truncate" else b""
            out.publish(200, outcome)
            out.end_connection("close" if fault.kind == "truncate" else CONNECTION_END[fault.kind], sent,
                               fault.stall_ms)
            return
    out.send(200, headers, body, outcome)


def _stream(app: Any, out: Responder, adapter: FormatAdapter, request: Any, completion: Any, options: Any,
            fault: Any, request_id: str) -> None:
    framing = adapter.framing_for(request)
    events = adapter.render_events(request, completion)
    events.request_id = request_id
    end, outcome = "body", "ok" if fault is None else f"fault {fault.kind}"
    out.publish(200, outcome)
    headers = [*framing.response_headers(), (adapter.request_id_header, request_id)]
    if fault is None and not (options.latency or options.ttft or options.tokens_per_second or options.jitter):
        # all at once and whole (what `schedule` calls unpaced): the parts' bytes, no frame one by one
        data = events.data()
        if framing.opening:
            data.insert(0, framing.opening)
        if framing.terminator:
            data.append(framing.terminator)
        out.stream(headers, data, None, True, app.pacer)
        return
    if fault is None:
        frames = events.frames + ([Frame(framing.terminator)] if framing.terminator else [])
    else:
        cut = apply_fault(adapter, framing, events, fault)
        frames, end = cut.frames, cut.end
        if end in ("close", "reset") and not frames and fault.after_events == 0:
            out.end_connection(end, b"", fault.stall_ms)  # no response at all: a connection error
            return
    if framing.opening:
        frames = [Frame(framing.opening), *frames]
    offsets = schedule(frames, options.latency or 0, options.ttft or 0, options.tokens_per_second or 0,
                       options.jitter or 0, app.jitter_rng())
    out.stream(headers, list(map(_DATA, frames)), offsets, end == "body", app.pacer)
    if end != "body":
        out.end_connection(end, b"", fault.stall_ms)


# -- helpers ---------------------------------------------------------------------------------
def _read_body(conn: Any, limit: int) -> bytes:
    try:
        return read_body(conn.rfile, conn.headers, limit, getattr(conn, "send_continue", None))
    except HeadError as bad:
        raise Rejected(bad.status, bad.message, close=True) from None


def _drain(conn: Any, app: Any) -> None:
    """Read and drop the body of a request that will not be served, keeping the connection usable.
    A client waiting for `100 Continue` sends no body: it gets the answer, and the connection closes
    (the body might still come)."""
    if getattr(conn, "expect_continue", False):
        conn.close_connection = True
        return
    try:
        _read_body(conn, app.options.max_body_size)
    except Rejected:
        conn.close_connection = True


def _log(app: Any, method: str, target: str, request: Any, entry: RecordedRequest, started: float,
         resolution: Any) -> None:
    kind = "stream" if request is not None and request.stream else "json"
    said = shorten(request.last_message) if request is not None else ""
    ms = (time.monotonic() - started) * 1000
    rule = entry.rule or ("fallback" if entry.outcome == "ok" else entry.outcome)
    misses = entry.near_misses
    closest = f"; closest: {misses[0]}" if misses else ""
    app.log.info(f'{method} {shorten(redact(target), 120)} [{kind}] "{said}" -> {rule} {entry.status} '
                 f'({ms:.0f}ms){closest}')
    if misses and app.log.enabled("debug"):
        for miss in misses:
            app.log.debug(f"  near miss: {miss}")
    if request is not None and app.log.enabled("debug"):
        app.log.debug(f"  request: {describe_request(request)}")
        if resolution is not None:
            app.log.debug(f"  reply: {describe_reply(resolution.reply)}")


def _reparse(entry: RecordedRequest) -> Optional[Any]:
    """Rebuild a recorded request's `MockRequest` from its stored body."""
    if not entry.body:
        return None
    path, _, query = entry.path.partition("?")
    match = formats.table().match(entry.method, path)
    if match is None or match.route.handler is not None:
        return None
    call = Call(entry.method, path, match.params, dict(parse_qsl(query)) if query else {}, entry.headers,
                entry.body, None, match.route, entry.path)
    request = match.adapter.parse(json.loads(entry.body), call)
    request.body = entry.body
    return request
