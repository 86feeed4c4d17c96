"""The test-framework helpers: `llm_mock.testing` base classes for unittest and the pytest plugin's
`llm_mock` fixture (registered by the package's `pytest11` entry point)."""
from __future__ import annotations

import io
import unittest

from llm_mock import MockServerOptions
from llm_mock.testing import AsyncMockServerTestCase, MockServerTestCase
from support.clients import async_openai_client, say
from support.raw_http import refuses_connections

pytest_plugins = ["pytester"]


def run_suite(*cases) -> unittest.TestResult:
    suite = unittest.TestSuite(unittest.defaultTestLoader.loadTestsFromTestCase(case) for case in cases)
    output = io.StringIO()
    result = unittest.TextTestRunner(stream=output, verbosity=2).run(suite)
    result.output = output.getvalue()
    return result


def test_mock_server_test_case_shares_one_server_and_resets_it_before_each_test():
    seen = []

    class ChatTest(MockServerTestCase):
        server_options = MockServerOptions(fallback="class fallback", default_chunk_size=3)

        def test_a_adds_a_rule(self):
            seen.append((self.server, self.server.port))
            self.server.when("hello").reply("Hi!")
            self.assertEqual(say(self.server.url, "hello"), "Hi!")
            self.server.fallback("changed fallback")

        def test_b_starts_clean(self):
            seen.append((self.server, self.server.port))
            self.assertEqual(self.server.rule_count, 0)
            self.assertEqual(self.server.history.count(), 0)
            self.assertEqual(say(self.server.url, "hello"), "class fallback")  # the configured one is back
            self.assertEqual(self.server.options.default_chunk_size, 3)

        def test_c_fails_on_purpose(self):
            self.assertEqual(say(self.server.url, "x"), "something else")

    result = run_suite(ChatTest)
    assert result.testsRun == 3
    assert [test.id().rsplit(".", 1)[1] for test, _ in result.failures] == ["test_c_fails_on_purpose"]
    assert "class fallback" in result.failures[0][1]
    assert not result.errors, result.output
    servers = {id(server) for server, _ in seen}
    ports = {port for _, port in seen}
    assert len(servers) == 1 and len(ports) == 1
    server = seen[0][0]
    assert not server.running and refuses_connections(ports.pop())  # stopped after the class


def test_each_test_case_class_gets_its_own_server():
    ports = {}

    class First(MockServerTestCase):
        def test_port(self):
            ports["first"] = self.server.port

    class Second(MockServerTestCase):
        def test_port(self):
            ports["second"] = self.server.port

    result = run_suite(First, Second)
    assert result.wasSuccessful(), result.output
    assert ports["first"] != ports["second"]


def test_async_mock_server_test_case():
    class AsyncChatTest(AsyncMockServerTestCase):
        async def test_async_client(self):
            self.server.when("ping").reply("pong")
            client = async_openai_client(self.server)
            completion = await client.chat.completions.create(model="m", messages=[{"role": "user",
                                                                                     "content": "ping"}])
            self.assertEqual(completion.choices[0].message.content, "pong")
            await client.close()

        async def test_reset_between_tests(self):
            self.assertEqual(self.server.rule_count, 0)

    result = run_suite(AsyncChatTest)
    assert result.testsRun == 2 and result.wasSuccessful(), result.output


PLUGIN_TESTS = """
import openai

PORTS = []


def ask(url, text):
    client = openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0, _strict_response_validation=True)
    return client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}]) \\
        .choices[0].message.content


def test_rules_answer(llm_mock):
    PORTS.append(llm_mock.port)
    llm_mock.when("hello").reply("Hi!")
    assert ask(llm_mock.url, "hello") == "Hi!"
    assert llm_mock.history.count() == 1


def test_next_test_starts_clean(llm_mock):
    PORTS.append(llm_mock.port)
    assert llm_mock.rule_count == 0 and llm_mock.history.count() == 0
    assert "no rule matched" in ask(llm_mock.url, "hello")


def test_one_server_per_session(llm_mock, llm_mock_server):
    assert llm_mock is llm_mock_server and llm_mock.running
    assert len(set(PORTS)) == 1
"""


def test_pytest_plugin_fixture(pytester):
    pytester.makepyfile(test_with_plugin=PLUGIN_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_pytest_plugin_comes_from_the_entry_point(pytester):
    pytester.makepyfile(test_with_plugin=PLUGIN_TESTS)
    result = pytester.runpytest("-p", "no:llm_mock", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(["*fixture 'llm_mock' not found*"])
