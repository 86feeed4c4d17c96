"""The official SDK clients as the tests use them: strict response validation, no retries unless
asked for; `say` for the one Chat Completions request many tests need."""
from __future__ import annotations

import anthropic
import openai


def _url(target) -> str:
    """A server's URL, or `target` itself when it is one."""
    return target if isinstance(target, str) else target.url


def openai_client(target, **options) -> openai.OpenAI:
    """An `openai.OpenAI` for a server (or its URL); `options` override the defaults."""
    return openai.OpenAI(**{"base_url": _url(target) + "/v1", "api_key": "sk-test", "max_retries": 0,
                            "_strict_response_validation": True, **options})


def async_openai_client(target, **options) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(**{"base_url": _url(target) + "/v1", "api_key": "sk-test", "max_retries": 0,
                                 "_strict_response_validation": True, **options})


def anthropic_client(target, **options) -> anthropic.Anthropic:
    """An `anthropic.Anthropic` for a server (or its URL); `options` override the defaults."""
    return anthropic.Anthropic(**{"base_url": _url(target), "api_key": "sk-ant-test", "max_retries": 0,
                                  "_strict_response_validation": True, **options})


def async_anthropic_client(target, **options) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(**{"base_url": _url(target), "api_key": "sk-ant-test", "max_retries": 0,
                                       "_strict_response_validation": True, **options})


def say(client, text: str, model: str = "gpt-4o", **kw) -> str:
    """The assistant text a Chat Completions request with the user message `text` gets. `client` is
    an `openai.OpenAI`, or a server or URL to make one for."""
    if not isinstance(client, openai.OpenAI):
        client = openai_client(client)
    completion = client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], **kw)
    return completion.choices[0].message.content
