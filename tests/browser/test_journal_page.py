"""The journal page in a real browser: headless Chromium loads /__llm_mock/ from a live server after
requests were made, and the rendered DOM is checked (rows, a fallback's near misses with the
failed conditions marked). Needs Chromium (Debian: `apt-get install -y chromium`)."""
from __future__ import annotations

import re
import shutil
import subprocess
import urllib.request
from html.parser import HTMLParser

import openai
import pytest

from llm_mock import MockServer

CHROMIUM = next((found for name in ("chromium", "chromium-browser", "google-chrome")
                 if (found := shutil.which(name))), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium)")


def browse(url, tmp_path, *extra):
    """Run headless Chromium on `url`; polling runs within the virtual time budget."""
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", *extra, url]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def dom(url, tmp_path):
    result = browse(url, tmp_path, "--dump-dom")
    assert "<tbody" in result.stdout, result.stderr[-2000:]
    return Page(result.stdout)


class Page(HTMLParser):
    """The parts of the rendered page a test reads: rows (cells by class), near-miss titles, held and
    failed conditions, and elements by id (text, classes)."""

    def __init__(self, html):
        super().__init__()
        self.rows, self.misses, self.held, self.failed, self.by_id = [], [], [], [], {}
        self._stack, self._chunks = [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "tr" and "data-id" in attrs:
            self.rows.append({"id": int(attrs["data-id"]), "classes": classes, "cells": {}})
        self._stack.append((tag, attrs, classes, len(self._chunks)))

    def handle_endtag(self, tag):
        while self._stack:
            opened, attrs, classes, start = self._stack.pop()
            if opened == tag:
                break
        else:
            return
        text = "".join(self._chunks[start:]).strip()
        if tag == "td" and self.rows and classes:
            self.rows[-1]["cells"][classes[0]] = text
        if "rule-title" in classes:
            self.misses.append(text)
        if tag == "li" and "held" in classes:
            self.held.append(text)
        if tag == "li" and "failed" in classes:
            self.failed.append(text)
        if "id" in attrs:
            self.by_id[attrs["id"]] = (text, classes)

    def handle_data(self, data):
        self._chunks.append(data)


def ask(url, text, **kw):
    client = openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
    return client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}], **kw)


@pytest.fixture
def server():
    with MockServer() as s:
        s.when(re.compile(r"^weather in (\w+)")).reply("Sunny")
        s.when({"model": "gpt-4-turbo", "message": "hello"}).reply("Hi")
        s.when_tool("search").reply({"tools": [{"name": "search", "args": {"q": "news"}}]})
        yield s


def test_rows_and_a_fallbacks_near_misses_in_the_browser(server, tmp_path):
    ask(server.url, "weather in Oslo")
    ask(server.url, "hello there")
    fallback = server.history.last()
    ask(server.url, "find the news",
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {}}}])
    page = dom(f"{server.url}/__llm_mock/#entry={fallback.id}", tmp_path)
    assert [row["cells"]["said"] for row in page.rows] == ["weather in Oslo", "hello there", "find the news"]
    first, second, third = page.rows
    assert first["cells"]["rule"] == "/^weather in (\\w+)/" and first["cells"]["status"] == "200"
    assert first["cells"]["route"] == "POST /v1/chat/completions" and first["cells"]["model"] == "gpt-4o"
    assert second["cells"]["rule"] == "fallback" and "fallback" in second["classes"]
    assert "selected" in second["classes"] and re.match(r"\d\d:\d\d:\d\d\.\d{3}$", second["cells"]["time"])
    assert page.misses[0].startswith("rule 1 {model=gpt-4-turbo, message=hello}")
    assert 'model: expected "gpt-4-turbo" — got "gpt-4o"' in page.failed
    assert 'message: expected "hello" — got "hello there"' in page.held
    assert page.by_id["status"][0] == "3 requests" and "live" in page.by_id["status"][1]


def test_a_tool_not_offered_and_a_strict_miss(server, tmp_path):
    with pytest.raises(openai.NotFoundError):
        ask(server.url, "find the news", extra_headers={"x-llm-mock-strict": "1"},
            tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {}}}])
    entry = server.history.last()
    page = dom(f"{server.url}/__llm_mock/#entry={entry.id}", tmp_path)
    [row] = page.rows
    assert row["cells"]["rule"] == "no match (strict)" and row["cells"]["status"] == "404"
    assert 'tool_name: "search" not among offered tools [get_weather]' in page.failed


def test_a_sessions_page_shows_its_journal_only(server, tmp_path):
    ask(server.url, "weather in Oslo")
    ask(server.session("w3").url, "weather in Rome")
    everything = dom(f"{server.url}/__llm_mock/", tmp_path)
    assert [row["cells"]["route"] for row in everything.rows] == ["POST /v1/chat/completions",
                                                                  "POST /v1/chat/completions [w3]"]
    own = dom(f"{server.session('w3').url}/__llm_mock/", tmp_path)
    assert [row["cells"]["said"] for row in own.rows] == ["weather in Rome"]


def test_the_page_asks_for_the_token_when_the_journal_needs_one(tmp_path):
    with MockServer(admin_token="s3cret") as server:
        ask(server.url, "hi")
        page = dom(f"{server.url}/__llm_mock/", tmp_path)
        assert page.rows == [] and "shown" in page.by_id["token"][1]
        assert page.by_id["status"][0] == "admin token required"


def test_a_screenshot(server, tmp_path):
    ask(server.url, "hello there")
    shot = tmp_path / "journal.png"
    result = browse(f"{server.url}/__llm_mock/#entry={server.history.last().id}", tmp_path,
                    "--window-size=1400,720", "--hide-scrollbars", f"--screenshot={shot}")
    assert shot.exists(), result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_the_page_is_self_contained(server):
    with urllib.request.urlopen(server.url + "/__llm_mock/") as response:
        html = response.read().decode()
        policy = response.headers["content-security-policy"]
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
