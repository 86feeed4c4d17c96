"""OpenAI legacy completions: `POST /v1/completions` (protocol-notes §14).

Each prompt becomes a user message, so rules match on the prompt (`format="completions"`; several
prompts are joined by newlines in `last_message`). One reply answers the request: every prompt
gets `n` choices of it (choice index = prompt index * n + j). As the real API does, `max_tokens`
defaults to 16, `stop` cuts the reply at the first stop sequence, `echo` puts the prompt before the
text, and `logprobs: k` gives the legacy parallel arrays (offsets counted from the prompt's start).
"""
from __future__ import annotations

import time
from typing import Any, Optional

from ..framing import SSE
from ..logprobs import check_range, compute, groups, legacy, spelled
from ..replies import Completion, ErrorReply
from ..request import Message, MockRequest, RequestError, finish, optional, require
from ..tokens import estimate_tokens
from .base import Call, Events, FormatAdapter, Frame, Route, dumps, openai_error_body, random_id
from .openai_chat import FINGERPRINT

DEFAULT_MAX_TOKENS = 16
MAX_LOGPROBS = 5
INVALID_PROMPT = "Invalid type for 'prompt': expected a string, an array of strings, an array of integers, or an " \
                 "array of arrays of integers."


class CompletionRequest(MockRequest):
    """A legacy completions request: its prompts (texts or token-id lists), `echo`, `suffix`, `stop`.
    (A plain subclass: a dataclass would cost every server start ~1 ms to create.)"""

    def __init__(self, *, prompts: list, echo: bool = False, suffix: Optional[str] = None, stop: tuple = (),
                 **request: Any):
        super().__init__(**request)
        self.prompts, self.echo, self.suffix, self.stop = prompts, echo, suffix, stop

    @property
    def input_tokens(self) -> int:
        """`usage.prompt_tokens`: the text estimate of each prompt, the length of each token list."""
        return max(sum(len(p) if isinstance(p, list) else estimate_tokens(p) for p in self.prompts), 1)


class Completions(FormatAdapter):
    name = "completions"
    routes = (Route("POST", "/v1/completions"),)
    prefixes = ("/v1/completions",)
    framing = SSE(terminator=b"data: [DONE]\n\n")

    def parse(self, body: dict, call: Call) -> MockRequest:
        model = require(body, "model", str, "a string")
        prompts = _prompts(body.get("prompt"))
        n = optional(body, "n", int, "an integer", 1)
        if not 1 <= n <= 128:
            raise RequestError(f"Invalid 'n': integer {n} is out of range; expected 1 to 128.", "n")
        limit = optional(body, "max_tokens", int, "an integer", DEFAULT_MAX_TOKENS)
        check_range(limit, 1 << 31, "max_tokens")
        top = optional(body, "logprobs", int, "an integer")
        stop = body.get("stop")
        if isinstance(stop, str):
            stop = [stop]
        if stop is not None and not (isinstance(stop, list) and len(stop) <= 4
                                     and all(isinstance(s, str) for s in stop)):
            raise RequestError("Invalid type for 'stop': expected a string or an array of up to 4 strings.", "stop")
        stream_options = optional(body, "stream_options", dict, "an object", {})
        texts = [p if isinstance(p, str) else " ".join(str(t) for t in p) for p in prompts]
        request = CompletionRequest(
            format=self.name, model=model, stream=optional(body, "stream", bool, "a boolean", False),
            headers=dict(call.headers), path=call.target, raw=body, max_tokens=limit, n=n,
            include_usage=bool(stream_options.get("include_usage")),
            logprobs=None if top is None else check_range(top, MAX_LOGPROBS, "logprobs"),
            prompts=prompts, echo=optional(body, "echo", bool, "a boolean", False),
            suffix=optional(body, "suffix", str, "a string"), stop=tuple(s for s in stop or () if s),
        )
        finish(request, [Message("user", text) for text in texts])
        request.last_message = "\n".join(texts)
        return request

    # -- what every choice shows ---------------------------------------------------------------
    def _choices(self, request: MockRequest, c: Completion) -> tuple:
        """(completion with `stop` applied, [(index, prompt text, logprob entries or None)])."""
        assert isinstance(request, CompletionRequest)
        c = _stopped(c, request.stop)
        entries = None if request.logprobs is None else compute(c.text, request.logprobs + 1, c.logprobs)
        choices: list = []
        for p, prompt in enumerate(request.prompts):
            text = prompt if isinstance(prompt, str) else ""
            choices.extend((p * request.n + j, text, entries) for j in range(request.n))
        return c, choices

    def _usage(self, c: Completion, choices: int) -> dict:
        output = c.output_tokens * choices
        return {"prompt_tokens": c.input_tokens, "completion_tokens": output, "total_tokens": c.input_tokens + output}

    def _envelope(self, request: MockRequest) -> dict:
        return {"id": random_id("cmpl-", 29), "object": "text_completion", "created": int(time.time()),
                "model": request.model, "system_fingerprint": FINGERPRINT}

    # -- JSON ----------------------------------------------------------------------------------
    def render_json(self, request: MockRequest, c: Completion) -> dict:
        assert isinstance(request, CompletionRequest)
        c, choices = self._choices(request, c)
        text = c.text or ""
        out = [{"text": (prompt if request.echo else "") + text, "index": index,
                "logprobs": None if entries is None else legacy(entries, len(prompt)), "finish_reason": c.finish}
               for index, prompt, entries in choices]
        return {**self._envelope(request), "choices": out, "usage": self._usage(c, len(choices))}

    # -- SSE -----------------------------------------------------------------------------------
    def render_events(self, request: MockRequest, c: Completion) -> Events:
        assert isinstance(request, CompletionRequest)
        c, choices = self._choices(request, c)
        envelope = self._envelope(request)
        tail = {"usage": None} if request.include_usage else {}
        frames = []

        def chunk(index: int, text: str, logprobs: Any, finish_reason: Optional[str] = None) -> None:
            choice = {"text": text, "index": index, "logprobs": logprobs, "finish_reason": finish_reason}
            frames.append(Frame(f"data: {dumps({**envelope, 'choices': [choice], **tail})}\n\n".encode(), len(text)))

        empty = None if request.logprobs is None else legacy([])
        for index, prompt, entries in choices:
            if request.echo and prompt:
                chunk(index, prompt, empty)
            if entries is None:
                for piece in c.chunks(c.text):
                    chunk(index, piece, None)
            else:
                at = len(prompt)
                for group in groups(entries, c.chunk_size):
                    chunk(index, spelled(group), legacy(group, at))
                    at += len(spelled(group))
            chunk(index, "", empty, c.finish)
        if request.include_usage:
            usage = {**envelope, "choices": [], "usage": self._usage(c, len(choices))}
            frames.append(Frame(f"data: {dumps(usage)}\n\n".encode()))
        return Events(frames)

    # -- errors --------------------------------------------------------------------------------
    def render_error(self, error: ErrorReply, request_id: str) -> dict:
        return openai_error_body(error)

    def inband_error(self, events: Events, sent: int, error, kind: str) -> list:
        return [Frame(f"data: {dumps(openai_error_body(error or ErrorReply(500)))}\n\n".encode())]


def _prompts(value: Any) -> list:
    """The prompts: a string, strings, one token-id list, or token-id lists; the API's 400 otherwise."""
    if value is None:
        raise RequestError("Missing required parameter: 'prompt'.", "prompt")
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise RequestError(INVALID_PROMPT, "prompt")
    if all(_token(v) for v in value):
        return [value]  # one list of token ids is one prompt
    if all(isinstance(v, str) for v in value) or all(isinstance(v, list) and v and all(_token(t) for t in v)
                                                     for v in value):
        return value
    raise RequestError(INVALID_PROMPT, "prompt")


def _token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _stopped(c: Completion, stops: tuple) -> Completion:
    """`c` cut before the first stop sequence in its text (finish `stop`), or `c` unchanged."""
    text = c.text or ""
    cut = min((at for at in (text.find(s) for s in stops) if at >= 0), default=-1)
    if cut < 0:
        return c
    kept = text[:cut]
    return c.replaced(text=kept, finish="stop", output_tokens=estimate_tokens(kept))
