"""The one parser of server-sent event streams, strict about the framing the real APIs use."""
from __future__ import annotations

import json
from typing import NamedTuple, Optional, Union


class SseEvent(NamedTuple):
    """One event: its `event:` name (None without one) and its `data:` lines joined. A tuple, so
    `name, data = event` and `event == (None, "[DONE]")` work too."""

    event: Optional[str]
    data: str

    @property
    def json(self):
        return json.loads(self.data)


def parse_sse(body: Union[bytes, str]) -> list:
    """The events of a stream body, parsed strictly: UTF-8 (a frame split inside a character fails
    here), `field: value` lines of `event` or `data` only, a blank line after every event. An empty
    body has no events."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if not text:
        return []
    assert text.endswith("\n\n"), f"the stream does not end with a blank line: {text[-80:]!r}"
    events = []
    for block in text[:-2].split("\n\n"):
        event, data = None, []
        for line in block.split("\n"):
            field, sep, value = line.partition(": ")
            assert sep, f"not a field line: {line!r}"
            if field == "event":
                event = value
            else:
                assert field == "data", f"unexpected field: {line!r}"
                data.append(value)
        events.append(SseEvent(event, "\n".join(data)))
    return events
