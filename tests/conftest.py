"""Fixtures every test folder shares: a fresh server per test and the official SDK clients with
strict validation.

The test folders (unit, http, sdk, robustness) have no `__init__.py`: pytest's default import mode
imports each test module by its file name, so those names are unique across the folders, and
`tests/http` never shadows the standard library's `http`. The helper package `support` is imported
from tests/, which is put on the import path here whatever the import mode.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from llm_mock import MockServer

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from support.clients import anthropic_client, openai_client  # noqa: E402  (needs tests/ on the path)


@pytest.fixture
def server():
    with MockServer() as s:
        yield s


@pytest.fixture
def oai(server):
    return openai_client(server)


@pytest.fixture
def claude(server):
    return anthropic_client(server)
