"""Where the tests' files are, and writers for the files a test makes in its temporary folder."""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent
TESTS = SUPPORT.parent
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"
CAPTURES = FIXTURES / "captures"  # requests captured from Claude Code and Codex CLI
RULE_FIXTURES = FIXTURES / "rules"
JS = TESTS / "js"  # the JavaScript SDK probe and its npm dependencies


def write(folder, name: str, text: str) -> str:
    """Write `text` (dedented) to `folder/name`, making parent folders; returns the path."""
    path = os.path.join(str(folder), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(textwrap.dedent(text))
    return path


def write_json(path, data) -> str:
    """Write `data` as JSON to `path`; returns the path as a string."""
    Path(path).write_text(json.dumps(data), encoding="utf-8")
    return str(path)
