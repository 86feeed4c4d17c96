"""Shared fixtures: a fresh server per test and the official SDK clients with strict validation."""
from __future__ import annotations

import anthropic
import openai
import pytest

from llm_mock import MockServer


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


@pytest.fixture
def oai(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="sk-test", max_retries=0,
                         _strict_response_validation=True)


@pytest.fixture
def claude(server):
    return anthropic.Anthropic(base_url=server.url, api_key="sk-ant-test", max_retries=0,
                               _strict_response_validation=True)
