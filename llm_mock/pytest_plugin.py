"""pytest plugin (registered by entry point): the `llm_mock` fixture.

One server per test session, reset before each test that uses it:

    def test_hello(llm_mock):
        llm_mock.when("hello").reply("Hi!")
        client = openai.OpenAI(base_url=llm_mock.url + "/v1", api_key="test")
"""
from __future__ import annotations

import pytest

from .server import MockServer


@pytest.fixture(scope="session")
def llm_mock_server():
    """The session's server, started once."""
    server = MockServer().start()
    yield server
    server.stop()


@pytest.fixture
def llm_mock(llm_mock_server):
    """The session's server with no rules and an empty history."""
    llm_mock_server.reset()
    yield llm_mock_server
