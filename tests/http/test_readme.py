"""Every code block of README.md works as written.

- A ```python block runs in a fresh interpreter. One whose first line is `# continues the block above`
  runs after the Python block before it (and that one after its own predecessor, if it continues one).
  A block defining `test_` functions is run by pytest instead, so fixtures such as `llm_mock` apply.
  A block addressing the demo server (http://127.0.0.1:8002) gets one, started from `llm-mock init`'s
  files on a free port. A line `print(...)  # TEXT` must print TEXT. A block headed `# NAME.py` is
  also loaded as a rule file.
- A ```json block is the packaged demo config.json; a ```json5 block loads as a rule file.
- Shell blocks are not run here.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import llm_mock
from llm_mock import MockServer
from llm_mock.cli import main as cli

README = next(parent / "README.md" for parent in Path(__file__).resolve().parents if (parent / "README.md").exists())
CONTINUES = "# continues the block above"
DEMO_URL = "http://127.0.0.1:8002"
# where the llm_mock under test was imported from: the subprocesses import the same one
PACKAGE_ROOT = str(Path(llm_mock.__file__).resolve().parent.parent)


def blocks(language: str) -> list:
    """(line number, code) of each fenced block in that language, continuations joined to their start."""
    text = README.read_text(encoding="utf-8")
    found, previous = [], None
    for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S):
        if match.group(1) != language:
            continue
        line, code = text.count("\n", 0, match.start()) + 1, match.group(2)
        if code.startswith(CONTINUES):
            assert previous is not None, f"README.md:{line} continues no block"
            code = previous + "\n" + code
        found.append((line, code))
        previous = code
    return found


PYTHON = blocks("python")


def test_the_readme_has_its_blocks():
    assert len(PYTHON) >= 10
    assert blocks("json") and blocks("json5")


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    """The demo server as `llm-mock init` + `llm-mock start` give it, on a free port."""
    folder = tmp_path_factory.mktemp("demo")
    assert cli(["init", "-d", str(folder)]) == 0
    config = folder / "config.json"
    config.write_text(json.dumps(dict(json.loads(config.read_text()), port=0)))
    server = MockServer.from_json_config(str(config))
    server.start()
    yield server.url
    server.stop()


def _plugin_registered() -> bool:
    return any(point.value.startswith("llm_mock") for point in importlib.metadata.entry_points(group="pytest11"))


@pytest.mark.parametrize("line, code", PYTHON, ids=[f"README.md:{line}" for line, _ in PYTHON])
def test_python_block_runs(line, code, tmp_path, request):
    if DEMO_URL in code:
        code = code.replace(DEMO_URL, request.getfixturevalue("demo_url"))
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT, NO_COLOR="1")
    if re.search(r"^def test_", code, re.M):
        path = tmp_path / "test_block.py"
        path.write_text(code, encoding="utf-8")
        plugin = [] if _plugin_registered() else ["-p", "llm_mock.pytest_plugin"]
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin, str(path)]
    else:
        path = tmp_path / "block.py"
        path.write_text(code, encoding="utf-8")
        command = [sys.executable, str(path)]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"README.md:{line} failed:\n{done.stdout}\n{done.stderr}"
    for expected in re.findall(r"^\s*print\(.*\)\s+# (.+)$", code, re.M):  # … stands for any text
        pattern = ".*?".join(re.escape(part) for part in expected.split("…"))
        assert re.search(pattern, done.stdout), f"README.md:{line} should print {expected!r}; printed {done.stdout!r}"
    if re.search(r"^def test_", code, re.M):
        assert re.search(r"\b[1-9]\d* passed", done.stdout), done.stdout

    name = re.match(r"# (\w+\.py)\n", code)
    if name:  # a rule file: it loads, and gives rules
        rule_file = tmp_path / name.group(1)
        rule_file.write_text(code, encoding="utf-8")
        assert MockServer().load(str(rule_file)) > 0


def test_json_block_is_the_demo_config():
    demo = json.loads((Path(llm_mock.__file__).parent / "demo" / "config.json").read_text(encoding="utf-8"))
    [(line, code)] = [(line, code) for line, code in blocks("json") if '"port"' in code]  # the config.json block
    assert json.loads(code) == demo, f"README.md:{line} differs from llm_mock/demo/config.json"


@pytest.mark.parametrize("line, code", blocks("json5"), ids=[f"README.md:{line}" for line, _ in blocks("json5")])
def test_json5_block_loads_as_a_rule_file(line, code, tmp_path):
    path = tmp_path / "rules.json5"
    path.write_text(code, encoding="utf-8")
    assert MockServer().load(str(path)) > 0, f"README.md:{line}"
