"""The package stays stdlib-only (json5 imported lazily), and its public names import."""
from __future__ import annotations

import ast
import pathlib
import sys

import llm_mock

PACKAGE = pathlib.Path(llm_mock.__file__).parent
ALLOWED = set(sys.stdlib_module_names) | {"llm_mock", "__future__"}


def _imports(path: pathlib.Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            yield name.split(".")[0], id(node) in top_level


def test_runtime_imports_only_the_standard_library():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for root, at_top in _imports(path):
            if root in ALLOWED:
                continue
            if root == "json5" and not at_top:
                continue
            if root == "pytest" and path.name == "pytest_plugin.py":
                continue
            offenders.append(f"{path.relative_to(PACKAGE)} imports {root}")
    assert offenders == []


def test_public_names():
    for name in ("MockServer", "MockServerOptions", "MatchObject", "ReplyObject", "ToolCall", "ErrorReply",
                 "ReplyOptions"):
        assert hasattr(llm_mock, name), name
    from llm_mock.types.reply import ReplyObject, ToolCall  # noqa: F401  (the predecessor's paths)
    from llm_mock.types.rule import MatchObject  # noqa: F401
