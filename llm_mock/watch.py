"""Watch mode: reload the rule files when they change, swapping the whole set in at once.

A thread polls the files' sizes, modification times and the directory listings about twice a
second (polling works the same everywhere, including bind mounts and network drives). A change is
loaded only once it has held still for the settle time (`watch_settle_ms`, 200 ms by default): an
editor saving, or a script rewriting a file line by line, passes through half-written states that
must not be loaded (nor reported as errors); for a directory, every changed file must have held
still. The new set is then loaded completely before it replaces the old one, so a request never
sees half of it; a file that still fails to load is a real error: the previous rules keep serving
and the problem is printed at every log level but `none`. The request history is kept; the files'
fallback is applied again (or the configured one when they set none).
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, Optional

from .loader import RuleFileError, rule_files

POLL_SECONDS = 0.5
SETTLE_SECONDS = 0.2


def snapshot(path: str) -> tuple:
    """What the watcher compares: each rule file's path, inode, size and mtime (empty if unreadable)."""
    try:
        files = rule_files(path)
    except ValueError:
        return ()
    state = []
    for file in files:
        try:
            stat = os.stat(file)
        except OSError:
            continue
        state.append((file, stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return tuple(state)


class Watcher:
    """Calls `reload()` whenever the files under `path` change. `reload` loads and swaps the rules
    in (returning how many), or raises `RuleFileError` and leaves the current ones serving."""

    def __init__(self, path: str, reload: Callable[[], int], log: Any, interval: float = POLL_SECONDS,
                 settle: float = SETTLE_SECONDS):
        self.path, self._reload, self.log, self.interval, self.settle = path, reload, log, interval, settle
        self.reloads = 0  # successful reloads, for whoever wants to wait on one
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._state = snapshot(path)

    def start(self) -> Watcher:
        self._thread = threading.Thread(target=self._run, name=f"llm_mock-watch:{self.path}", daemon=True)
        self._thread.start()
        self.log.info(f"Watching {self.path} for changes")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def _run(self) -> None:
        pending, since = None, 0.0  # a changed state, and since when it has held still
        quick = max(0.01, min(self.interval, self.settle / 4))  # polls while a change settles
        while not self._stop.wait(self.interval if pending is None else quick):
            try:
                state, now = snapshot(self.path), time.monotonic()
                if state == self._state:
                    pending = None
                elif state != pending:
                    pending, since = state, now  # changed (again): wait until it holds still
                if pending is not None and now - since >= self.settle:
                    self._state, pending = pending, None
                    self.reload()
            except Exception as exc:  # never stop watching silently
                self.log.problem("error", f"Watching {self.path} failed: {type(exc).__name__}: {exc}")

    def reload(self) -> bool:
        """Load the files now and swap them in; on failure keep the current rules. True if swapped."""
        log = self.log
        try:
            count = self._reload()
        except RuleFileError as failure:
            for problem in failure.problems:
                log.problem("error", f"Reload failed, keeping the previous rules: {problem}")
            return False
        except Exception as exc:  # e.g. a file vanished between listing and reading
            log.problem("error", f"Reload failed, keeping the previous rules: {self.path}: "
                                 f"{type(exc).__name__}: {exc}")
            return False
        self.reloads += 1
        log.info(f"Reloaded {count} rule(s) from {self.path}")
        return True
