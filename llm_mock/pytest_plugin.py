"""pytest plugin (registered by entry point): the `llm_mock` fixture.

One server per test session, reset before each test that uses it:

    def test_hello(llm_mock):
        llm_mock.when("hello").reply("Hi!")
        client = openai.OpenAI(base_url=llm_mock.url + "/v1", api_key="test")

With `--llm-mock-url URL` (or `LLM_MOCK_URL`) the fixture is a `RemoteMockServer` on the server
already running there instead; under pytest-xdist each worker gets its own session of it
(`llm_mock.url` then carries the `/session/{worker}` prefix), so workers never see each other's
rules or requests.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Union

import pytest

from .remote import RemoteMockServer
from .server import MockServer


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--llm-mock-url", default=None, metavar="URL",
                     help="use the llm_mock server running at URL (default: $LLM_MOCK_URL; else one in-process)")


@pytest.fixture(scope="session")
def llm_mock_server(request: pytest.FixtureRequest) -> Iterator[Union[MockServer, RemoteMockServer]]:
    """The session's server: started once, or the remote one `--llm-mock-url` names."""
    url = request.config.getoption("--llm-mock-url") or os.environ.get("LLM_MOCK_URL")
    if url:
        worker = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, ...: one session each
        remote = RemoteMockServer(url, session=worker).__enter__()
        yield remote
        remote.__exit__(None, None, None)
        return
    server = MockServer().start()
    yield server
    server.stop()


@pytest.fixture
def llm_mock(llm_mock_server: Union[MockServer, RemoteMockServer]) -> Iterator[Union[MockServer, RemoteMockServer]]:
    """The session's server with no rules and an empty history."""
    llm_mock_server.reset()
    yield llm_mock_server
