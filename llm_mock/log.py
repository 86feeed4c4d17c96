"""Levelled logging to stderr: none < error < warning < info < debug < all. Colour only on a terminal.

Log lines carry what clients send (paths, messages, model names), so every line is made safe for a
terminal: control characters (ESC, BEL, CR …, C1) and bidirectional overrides are written as escapes
(`\x1b`), and each line is cut at `MAX_LINE` characters (except the full bodies `all` logs). The
request's own fields are shortened where they are written (`shorten`)."""
from __future__ import annotations

import os
import re
import sys
import threading
import time
from typing import Optional

LEVELS = {"none": 0, "error": 1, "warning": 2, "info": 3, "debug": 4, "all": 5}
MAX_LINE = 2000
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if code not in (0x09, 0x0A)}
_ESCAPES.update({code: f"\\u{code:04x}" for code in (0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))})
_STYLE = {"error": ("\x1b[1;31m", "✗ ERROR"), "warning": ("\x1b[1;33m", "! WARN "),
          "info": ("\x1b[36m", "● INFO "), "debug": ("\x1b[2m", "· DEBUG"), "all": ("\x1b[2m", "· ALL  ")}


class Logger:
    """`level` None (not set) shows only `problem()` lines: the server's own trouble is never silent
    unless `none` is asked for."""

    def __init__(self, level: Optional[str] = None, stream=None):
        if level is not None and level not in LEVELS:
            raise ValueError(f"Invalid log level {level!r}. Valid: {', '.join(LEVELS)}")
        self.level = level or "none"
        self.priority = LEVELS[self.level]
        self.silent = level == "none"  # set explicitly: not even problems
        self.stream = stream
        self._lock = threading.Lock()

    def enabled(self, level: str) -> bool:
        return self.priority >= LEVELS[level]

    def problem(self, level: str, message: str) -> None:
        """A problem of the server's own (an internal failure, a failed reload, the descriptor limit):
        written at `level` whatever the level set, unless it is `none`."""
        if not self.silent:
            self._write(level, message, force=True)

    def _write(self, level: str, message: str, force: bool = False, whole: bool = False) -> None:
        if self.priority < LEVELS[level] and not force:
            return
        message = printable(message)
        if not whole and len(message) > MAX_LINE:
            message = "\n".join(cut(line, MAX_LINE) for line in message.split("\n"))
        stream = self.stream or sys.stderr
        colour, label = _STYLE[level]
        stamp = time.strftime("%H:%M:%S", time.localtime()) + f".{int(time.time() * 1000) % 1000:03d}"
        tty = getattr(stream, "isatty", lambda: False)() and "NO_COLOR" not in os.environ
        line = f"\x1b[2m{stamp}\x1b[0m {colour}{label}\x1b[0m {message}" if tty else f"{stamp} {label} {message}"
        with self._lock:
            try:
                stream.write(line + "\n")
                stream.flush()
            except (OSError, ValueError):
                pass

    def error(self, message: str) -> None:
        self._write("error", message)

    def warning(self, message: str) -> None:
        self._write("warning", message)

    def info(self, message: str) -> None:
        self._write("info", message)

    def debug(self, message: str) -> None:
        self._write("debug", message)

    def bodies(self, request: Optional[bytes], response: Optional[bytes]) -> None:
        """Level `all`: a request's body and its answer's, whole (control characters escaped)."""
        if request:
            self._write("all", f"  request body: {request.decode('utf-8', 'replace')}", whole=True)
        if response is not None:
            self._write("all", f"  response body: {response.decode('utf-8', 'replace')}", whole=True)


def printable(text: str) -> str:
    """`text` with control characters and bidirectional overrides escaped (newlines and tabs kept)."""
    return text.translate(_ESCAPES)


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


_KEY = re.compile(r"([?&](?:key|api[-_]key)=)[^&#]*", re.IGNORECASE)


def redact(target: str) -> str:
    """A request target with the API key of its query (Gemini's `?key=`) masked: keys are never logged."""
    return _KEY.sub(r"\1***", target) if "key=" in target.lower() else target


def shorten(text: str, limit: int = 60) -> str:
    """One line of at most `limit` characters: whitespace runs (newlines too) become one space."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_request(request) -> str:
    """The normalised request on one line, for debug logs."""
    via = f" via={request.transport}" if request.transport else ""
    parts = [f"format={request.format}{via} model={shorten(request.model, 60)} stream={request.stream} "
             f"messages={len(request.messages)}", f'last="{shorten(request.last_message)}"']
    if request.system_message:
        parts.append(f'system="{shorten(request.system_message, 40)}"')
    if request.tool_names:
        parts.append(f"tools={shorten(','.join(request.tool_names), 200)}")
    if request.server_tool_types:
        parts.append(f"server_tools={shorten(','.join(request.server_tool_types), 100)}")
    if request.last_tool_call_id:
        parts.append(f"tool_result={shorten(request.last_tool_call_id, 60)}")
    return " ".join(parts)


def describe_reply(reply) -> str:
    """A preview of a reply (a `ReplyObject`) on one line, for debug logs."""
    if reply.error is not None:
        return f"error {reply.error.status} {reply.error.message or ''}".rstrip()
    parts = []
    if reply.reasoning:
        parts.append(f'reasoning="{shorten(reply.reasoning)}"')
    if reply.text or not (reply.tools or reply.reasoning):
        parts.append(f'text="{shorten(reply.text or "")}"')
    parts += [f"tool {tool.name}({shorten(tool.arguments, 60)})" for tool in reply.tools]
    if reply.fault is not None:
        parts.append(f"fault={reply.fault.kind}")
    return " ".join(parts)
