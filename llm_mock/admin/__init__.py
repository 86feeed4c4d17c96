"""The admin API: rules, journal, next error, fallback, reset and exhaustion over HTTP, under
`/__llm_mock/`, so a test in any language or container scripts and inspects the server.

Its routes live in the route table like any adapter's, but it is no wire format: it is no `format=`
name, its requests are not journaled, and its errors are plain `{"error": {"message", "type"}}`.
`admin=False` (`--no-admin`) turns it off (404); with `admin_token` set every data route needs
`Authorization: Bearer <token>` (the completion routes never do).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ..formats.base import Call, Route, hex_id
from ..replies import ErrorReply
from . import journal as journal_routes
from . import page, rules
from .common import error_answer, error_body

PREFIX = "/__llm_mock"


def _same(given: str, expected: str) -> bool:
    """A constant-time comparison; `hmac` (it loads OpenSSL's hashes) is imported on the first check."""
    import hmac

    return hmac.compare_digest(given.encode(), expected.encode())


def _guarded(handler: Callable[[Call], Any], token_needed: bool = True) -> Callable[[Call, Any], Any]:
    """The handler behind the off switch and the token check."""

    def serve(call: Call, adapter: Any) -> Any:
        options = call.app.options
        if not options.admin:
            return error_answer(404, f"Invalid URL ({call.method} {call.target}): the admin API is off "
                                     "(admin=False / --no-admin)")
        token = options.admin_token
        if token and token_needed and not _same(
                call.headers.get("authorization", ""), f"Bearer {token}"):
            return error_answer(401, "the admin API needs the header Authorization: Bearer <admin token>",
                                (("www-authenticate", 'Bearer realm="llm_mock admin"'),))
        return handler(call)

    serve.__name__ = serve.__qualname__ = handler.__name__
    serve.__doc__ = handler.__doc__
    return serve


def _route(method: str, path: str, handler: Callable[[Call], Any], token_needed: bool = True) -> Route:
    return Route(method, PREFIX + path, _guarded(handler, token_needed))


class AdminAPI:
    """The admin API as a route owner: routes, the prefix whose unknown paths 404 in its shape, and
    its error shape. Registered beside the formats (`formats.add_service`), never as one."""

    name: ClassVar[str] = "admin"
    transport: ClassVar[str] = ""
    journal: ClassVar[bool] = False  # its requests are not in the history
    prefixes: ClassVar[tuple] = (PREFIX + "/",)
    header_hints: ClassVar[tuple] = ()
    request_id_header: ClassVar[str] = "x-request-id"
    routes: ClassVar[tuple] = (
        _route("GET", "/", page.page, token_needed=False),  # static: the data it shows needs the token
        _route("GET", "", page.to_page, token_needed=False),
        _route("GET", "/health", rules.health),
        _route("GET", "/rules", rules.list_rules),
        _route("POST", "/rules", rules.add_rules),
        _route("DELETE", "/rules", rules.clear_rules),
        _route("PATCH", "/rules/{index}", rules.change_rule),
        _route("DELETE", "/rules/{index}", rules.delete_rule),
        _route("GET", "/history", journal_routes.list_history),
        _route("DELETE", "/history", journal_routes.clear_history),
        _route("GET", "/history/{id}", journal_routes.get_entry),
        _route("POST", "/next-error", rules.next_error),
        _route("POST", "/fallback", rules.set_fallback),
        _route("POST", "/reset", rules.reset),
        _route("GET", "/done", rules.done),
        _route("GET", "/sessions", rules.list_sessions),
        _route("DELETE", "/sessions", rules.clear_sessions),
        _route("DELETE", "/sessions/{id}", rules.delete_session),
    )

    def new_request_id(self) -> str:
        return hex_id("req_", 32)

    def render_error(self, error: ErrorReply, request_id: str) -> dict:
        return error_body(error.status, error.message or "error", **({"param": error.param} if error.param else {}))

    def error_headers(self, error: ErrorReply) -> list:
        return []


ADMIN = AdminAPI()

__all__ = ["ADMIN", "PREFIX", "AdminAPI"]
