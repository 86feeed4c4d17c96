"""What the fault tests share: the reply they cut, each SDK's raw stream of it (strict validation),
the text its events carry, and the errors a cut stream raises."""
from __future__ import annotations

import anthropic
import openai
import pytest

from llm_mock import Fault, ReplyObject
from support.clients import anthropic_client, openai_client

try:  # the HTTP library of the current SDK generations, and of the older ones
    import httpx2 as httpx
except ImportError:
    import httpx

TEXT = "abcdefghij" * 5  # 50 characters: 10 chunks of 5
USER = [{"role": "user", "content": "go"}]


def chat_stream(oai, **kw):
    return oai.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True, **kw)


def claude_stream(claude, **kw):
    return claude.messages.create(model="claude-mock", max_tokens=1024, messages=USER, stream=True, **kw)


def reply_with(server, fault: Fault, text: str = TEXT, chunk_size: int = 5, **options):
    server.when("go").reply(ReplyObject(text=text, fault=fault), chunk_size=chunk_size, **options)


def drain(iterator, into: list):
    """Collect events into `into` (kept for inspection when the iteration raises)."""
    for event in iterator:
        into.append(event)


def chat_text(chunks) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def anthropic_text(events) -> str:
    return "".join(e.delta.text for e in events if e.type == "content_block_delta")


def responses_text(events) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


STREAMS = {  # each SDK's raw stream of `go`, and the text its events carry
    "chat": (lambda server, **kw: chat_stream(openai_client(server), **kw), chat_text),
    "responses": (lambda server, **kw: openai_client(server).responses.create(
        model="gpt-4.1-mini", input="go", stream=True, **kw), responses_text),
    "anthropic": (lambda server, **kw: claude_stream(anthropic_client(server), **kw), anthropic_text),
}
# The first 5 events: chat's role chunk and 4 text chunks; Responses' 4 lifecycle events and 1 delta;
# Anthropic's message and block starts, a ping (which the SDK does not yield) and 2 deltas.
YIELDED_OF_5 = {"chat": 5, "responses": 5, "anthropic": 4}
TEXT_OF_5 = {"chat": TEXT[:20], "responses": TEXT[:5], "anthropic": TEXT[:10]}
# The anthropic SDK lets its HTTP library's errors out of a stream iteration unwrapped.
READ_ERRORS = (openai.APIConnectionError, anthropic.APIConnectionError, httpx.TransportError)
TIMEOUTS = (openai.APITimeoutError, anthropic.APITimeoutError, httpx.TimeoutException)


def read_until_failure(server, sdk: str, expect, **kw) -> tuple:
    """The events `sdk` yielded before its stream raised `expect`, and the exception."""
    open_stream, _ = STREAMS[sdk]
    events = []
    with pytest.raises(expect) as caught:
        drain(open_stream(server, **kw), events)
    return events, caught.value
