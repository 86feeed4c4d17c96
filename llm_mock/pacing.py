"""Pacing: when each event of a stream is due (`schedule`), and the one thread that writes them.

The schedule is absolute (start + offset) rather than a fixed sleep after each write, so a hundred
10 ms gaps add up to a second, not a second plus every wake-up's overshoot.

A thousand streams each sleeping in their own thread wake a thousand threads per gap and fight
for the interpreter; gaps stretch to hundreds of milliseconds. Here the handler thread writes what is
due at once (the head and the first events: time to first byte stays short), hands the rest to the
pacer, and waits. The pacer keeps a heap of deadlines and writes each due event with a non-blocking
write; a client that cannot take more is retried a moment later, one that went away fails its stream.
"""
from __future__ import annotations

import heapq
import itertools
import os
import random
import threading
import time
from typing import Optional

_RETRY = 0.002  # seconds before writing again to a socket whose buffer is full


class _Job:
    __slots__ = ("fd", "chunks", "offsets", "start", "index", "pending", "end", "done", "error")

    def __init__(self, fd: int, chunks: list, offsets: list, start: float, index: int, end: bytes):
        self.fd, self.chunks, self.offsets, self.start = fd, chunks, offsets, start
        self.index, self.pending, self.end = index, b"", end
        self.done = threading.Event()
        self.error: Optional[BaseException] = None


class Pacer:
    """Writes paced streams for many connections from one thread."""

    def __init__(self):
        self._heap: list = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: Optional[threading.Thread] = None
        self._closed = False

    def send(self, sock, head: bytes, chunks: list, offsets: list, end: bytes) -> None:
        """Write `head`, then each chunk at start + offset, then `end`; returns when all is written.
        Raises `BrokenPipeError` (or the socket's error) if the client goes away first."""
        start = time.monotonic()
        due = 0
        while due < len(chunks) and offsets[due] <= 0:
            due += 1
        first = head + b"".join(chunks[:due]) + (end if due == len(chunks) else b"")
        sock.sendall(first)
        if due == len(chunks):
            return
        job = _Job(sock.fileno(), chunks, offsets, start, due, end)
        self._push(start + offsets[due], job)
        job.done.wait()
        if job.error is not None:
            raise job.error

    def close(self) -> None:
        """Fail every pending stream and stop the thread."""
        with self._wake:
            self._closed = True
            jobs = [entry[2] for entry in self._heap]
            self._heap.clear()
            self._wake.notify()
        for job in jobs:
            job.error = BrokenPipeError("server stopped")
            job.done.set()

    def _push(self, deadline: float, job: _Job) -> None:
        with self._wake:
            if self._closed:
                job.error = BrokenPipeError("server stopped")
                job.done.set()
                return
            heapq.heappush(self._heap, (deadline, next(self._order), job))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="llm_mock:pacer", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is job:
                self._wake.notify()

    def _run(self) -> None:
        """Take every job that is due in one turn of the lock, write them without it, and put back
        the unfinished ones in one more: with a thousand streams, a lock and a wake-up per event
        cost the pacer more than writing the events."""
        heap = self._heap
        while True:
            with self._wake:
                while True:
                    if self._closed:
                        return
                    if heap:
                        wait = heap[0][0] - time.monotonic()
                        if wait <= 0:
                            break
                        self._wake.wait(wait)
                    else:
                        self._wake.wait()
                now = time.monotonic()
                due = [heapq.heappop(heap)[2]]
                while heap and heap[0][0] <= now:
                    due.append(heapq.heappop(heap)[2])
            again = []
            for job in due:
                try:
                    deadline = self._advance(job)
                except Exception as exc:  # fail this stream, keep pacing the others (the handler reports it)
                    job.error = exc
                    job.done.set()
                    continue
                if deadline is not None:
                    again.append((deadline, job))
            if again:
                with self._wake:
                    for deadline, job in again:
                        if self._closed:
                            job.error = BrokenPipeError("server stopped")
                            job.done.set()
                        else:
                            heapq.heappush(heap, (deadline, next(self._order), job))

    def _advance(self, job: _Job) -> Optional[float]:
        """Write everything of `job` that is due; the time it is due again, or None when it is done
        (or failed)."""
        now = time.monotonic()
        data = job.pending
        chunks, offsets, index = job.chunks, job.offsets, job.index
        count = len(chunks)
        while index < count and job.start + offsets[index] <= now:
            data += chunks[index]
            index += 1
        job.index = index
        if index == count:
            data += job.end
            job.end = b""
        try:
            written = os.write(job.fd, data) if data else 0
        except BlockingIOError:
            written = 0
        except OSError as exc:
            job.error = exc
            job.done.set()
            return None
        job.pending = data[written:]
        if job.pending:
            return now + _RETRY
        if index < count:
            return job.start + offsets[index]
        job.done.set()
        return None


def schedule(frames: list, latency: float = 0, ttft: float = 0, tokens_per_second: float = 0,
             jitter: float = 0, rng: Optional[random.Random] = None) -> Optional[list]:
    """Send time of each frame, in seconds from the first; None when nothing is paced.

    `latency` ms between events; or `ttft` ms before the first text then `tokens_per_second`
    (about four characters a token); `jitter` adds up to that many ms to each gap.
    """
    if not (latency or ttft or tokens_per_second or jitter):
        return None
    rng = rng or random.Random(0)
    offsets, at, seen_text = [], 0.0, False
    for index, frame in enumerate(frames):
        if ttft or tokens_per_second:
            if frame.chars and not seen_text:
                at, seen_text = max(at, (ttft or 0) / 1000), True
            elif frame.chars and tokens_per_second:
                at += frame.chars / 4 / tokens_per_second
        elif index:
            at += latency / 1000
        if jitter and index:
            at += rng.uniform(0, jitter / 1000)
        offsets.append(at)
    return offsets
