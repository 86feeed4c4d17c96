"""Levelled logging to stderr: none < error < warning < info < debug < all. Colour only on a terminal."""
from __future__ import annotations

import os
import sys
import threading
import time

LEVELS = {"none": 0, "error": 1, "warning": 2, "info": 3, "debug": 4, "all": 5}
_STYLE = {"error": ("\x1b[1;31m", "✗ ERROR"), "warning": ("\x1b[1;33m", "! WARN "),
          "info": ("\x1b[36m", "● INFO "), "debug": ("\x1b[2m", "· DEBUG")}


class Logger:
    def __init__(self, level: str = "none", stream=None):
        if level not in LEVELS:
            raise ValueError(f"Invalid log level {level!r}. Valid: {', '.join(LEVELS)}")
        self.level = level
        self.priority = LEVELS[level]
        self.stream = stream
        self._lock = threading.Lock()

    def enabled(self, level: str) -> bool:
        return self.priority >= LEVELS[level]

    def _write(self, level: str, message: str) -> None:
        if self.priority < LEVELS[level]:
            return
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


def shorten(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
