"""The house rules that a reader cannot see at a glance: no import cycles (lazy imports included),
every module described in docs/ARCHITECTURE.md, and protocol facts cited inside the repository."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "llm_mock"


def modules() -> dict:
    """Dotted module name → path, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_graph() -> dict:
    """Module → the package modules it imports anywhere in its body (functions included)."""
    mods = modules()
    graph: dict = {name: set() for name in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                targets = [f"{target}.{alias.name}" if f"{target}.{alias.name}" in mods else target
                           for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("llm_mock"):
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names if alias.name.startswith("llm_mock")]
            graph[name].update(t for t in targets if t in mods and t != name)
    return graph


def find_cycle(graph: dict) -> list:
    state: dict = {}
    stack: list = []

    def visit(node: str) -> list:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):  # imports under `if TYPE_CHECKING:` count too
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return []

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def test_the_import_graph_is_a_dag():
    assert find_cycle(import_graph()) == []


def test_the_loader_and_the_watcher_never_reach_the_server():
    graph = import_graph()
    for start in ("llm_mock.loader", "llm_mock.watch", "llm_mock.engine", "llm_mock.builder"):
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(graph[node])
        assert "llm_mock.server" not in seen and "llm_mock.dispatch" not in seen, start


def test_adapters_know_no_socket_engine_or_cli():
    graph = import_graph()
    for name in graph:
        if name.startswith("llm_mock.formats."):
            assert not graph[name] & {"llm_mock.engine", "llm_mock.server", "llm_mock.cli", "llm_mock.dispatch",
                                      "llm_mock.connection", "llm_mock.responder"}, name


def test_every_module_is_described_in_architecture_md():
    """Each module is named in the table by its path in the package; a package's `__init__.py` by
    the package's own row (`admin/`)."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = []
    for path in modules().values():
        relative = path.relative_to(PACKAGE).as_posix()
        name = relative[: -len("__init__.py")] if path.name == "__init__.py" and path.parent != PACKAGE else relative
        if f"| `{name}` |" not in text and f"| `{relative}` |" not in text:
            missing.append(relative)
    assert missing == [], f"docs/ARCHITECTURE.md does not describe {missing}"


def test_protocol_facts_are_cited_inside_the_repository():
    for path in modules().values():
        text = path.read_text(encoding="utf-8")
        for outside in ("wire-protocol", "openai-surface", "dialects reference", "dialects.md", "shared/reference"):
            assert outside not in text, (path, outside)
