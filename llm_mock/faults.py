"""Failure simulation: where a fault cuts a stream, and what follows the cut.

The adapters say what an in-band error or an early end looks like in their format; this module
decides where it happens, the same way for all of them.
"""
from __future__ import annotations

from .formats.base import Events, FormatAdapter
from .framing import Frame, Framing
from .plain import Plain
from .replies import Fault


class Cut(Plain):
    """A faulty stream: the frames to send, then how the connection ends.

    end: `body` (finish the chunked body cleanly), `close` (close without finishing it),
    `reset` (TCP reset), `stall` (hold the connection open, then close).
    """

    __slots__ = ("frames", "end")

    def __init__(self, frames: list, end: str = "body"):
        self.frames, self.end = frames, end


CONNECTION_END = {"disconnect": "close", "reset": "reset", "stall": "stall"}
"""How each transport fault ends the connection (see `Cut.end`)."""


def cut_index(frames: list, fault: Fault) -> int:
    """Index of the first frame not sent: after `after_events`, or once `after_chars` characters of
    text went out; halfway through the stream when neither is given."""
    if fault.after_events is not None:
        return max(0, min(fault.after_events, len(frames)))
    if fault.after_chars is not None:
        sent = 0
        for index, frame in enumerate(frames):
            if sent >= fault.after_chars:
                return index
            sent += frame.chars
        return len(frames)
    return len(frames) // 2


def apply_fault(adapter: FormatAdapter, framing: Framing, events: Events, fault: Fault) -> Cut:
    """The frames of `events` as `fault` leaves them."""
    frames = events.frames
    kind = fault.kind
    if kind == "empty":
        return Cut([])
    if kind == "incomplete":  # already a truncated completion: the stream itself is whole
        return Cut(frames + ([Frame(framing.terminator)] if framing.terminator else []))
    at = cut_index(frames, fault)
    head = frames[:at]
    if kind in ("error", "failed"):
        return Cut(head + adapter.inband_error(events, at, fault.error, kind))
    if kind == "truncate":
        return Cut(head + adapter.early_end(events, at))
    if kind == "malformed":
        tail = frames[at:] + ([Frame(framing.terminator)] if framing.terminator else [])
        return Cut(head + [Frame(framing.malformed)] + tail)
    return Cut(head, CONNECTION_END[kind])
