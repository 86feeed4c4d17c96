"""unittest support: one server per test class, rules and history reset before each test.

    class ChatTest(MockServerTestCase):
        def test_hello(self):
            self.server.when("hello").reply("Hi!")
            client = openai.OpenAI(base_url=self.server.url + "/v1", api_key="test")
            ...
"""
from __future__ import annotations

import unittest
from typing import TYPE_CHECKING, Optional

from .config import MockServerOptions
from .server import MockServer

if TYPE_CHECKING:
    _Base = unittest.TestCase
else:
    _Base = object


class MockServerMixin(_Base):
    """Starts `cls.server` before the class's tests and stops it after; `reset()` before each test."""

    server_options: Optional[MockServerOptions] = None
    server: MockServer

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.server = MockServer(cls.server_options).start()
        cls.addClassCleanup(cls.server.stop)

    def setUp(self) -> None:
        super().setUp()
        self.server.reset()


class MockServerTestCase(MockServerMixin, unittest.TestCase):
    """A `unittest.TestCase` with a running `self.server`."""


class AsyncMockServerTestCase(MockServerMixin, unittest.IsolatedAsyncioTestCase):
    """An `IsolatedAsyncioTestCase` with a running `self.server`, for async clients."""
