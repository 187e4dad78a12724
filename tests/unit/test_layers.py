"""The layout holds: each layer imports only itself and what is below it, packages import in no circle,
and SQL is written only in the ledger package (imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Top to bottom. A module belongs to the first layer with a prefix that matches it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("entry points", ("omnibill.cli", "omnibill.portal", "bench")),
    ("flows", ("flows",)),
    ("tasks", ("tasks",)),
    ("wiring and Prefect glue", ("omnibill.wiring", "omnibill.ops")),
    ("stages, adapters, providers", ("omnibill.extract", "omnibill.decide", "omnibill.render", "omnibill.dispatch",
                                     "omnibill.receipts", "omnibill.reconcile", "omnibill.proof", "omnibill.archive",
                                     "channel_adapters",
                                     "omnibill.sandbox", "omnibill.demo_data")),
    ("ledger and domain", ("omnibill.ledger", "omnibill.runs", "omnibill.model", "omnibill.payments",
                           "omnibill.privacy", "omnibill.store", "omnibill.quiet_hours", "omnibill")),
    ("config", ("config",)),
]
OURS = ("omnibill", "flows", "tasks", "channel_adapters", "config", "bench")
STAGES = ("extract", "decide", "render", "dispatch", "receipts", "reconcile")


def _modules() -> dict[str, Path]:
    found = {}
    for top in OURS:
        for path in (REPO / top).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of the file, at any depth."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]  # `from omnibill import wiring`
    return out


def _layer(module: str) -> int:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{module} is in no layer")


def _unit(module: str) -> str:
    """The package a module counts towards in the circle check: `omnibill.decide`, `flows`, `config`…"""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "omnibill" and len(parts) > 1 else parts[0]


MODULES = _modules()


def _our_imports():
    for name, path in sorted(MODULES.items()):
        for line, target in _imports(path):
            if target.split(".")[0] in OURS and target in MODULES:
                yield name, path, line, target


def test_every_module_has_a_layer():
    assert all(_layer(m) >= 0 for m in MODULES)


def test_no_import_points_upward():
    upward = [f"{path.relative_to(REPO)}:{line} ({LAYERS[_layer(name)][0]}) imports {target} "
              f"({LAYERS[_layer(target)][0]})"
              for name, path, line, target in _our_imports() if _layer(target) < _layer(name)]
    assert not upward, "\n".join(upward)


def test_packages_import_in_no_circle():
    graph: dict[str, set[str]] = {}
    for name, _, _, target in _our_imports():
        a, b = _unit(name), _unit(target)
        if a != b:
            graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            pytest.fail("import circle: " + " -> ".join(cycle))


def test_sql_is_written_only_in_the_ledger():
    """Outside omnibill/ledger, SQLAlchemy appears only as the Session type of a parameter."""
    offenders = [f"{path.relative_to(REPO)}:{line} imports {target}"
                 for name, path in MODULES.items() if not name.startswith("omnibill.ledger")
                 for line, target in _imports(path)
                 if target.startswith("sqlalchemy") and target not in ("sqlalchemy.orm", "sqlalchemy.orm.Session")]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_has_one_home_with_its_entry_point_task_and_readme(stage):
    package = REPO / "omnibill" / stage
    assert (package / "stage.py").is_file() and (package / "README.md").is_file()
    entry = f"run_{stage}"
    assert f"def {entry}(" in (package / "stage.py").read_text()
    assert entry in (REPO / "tasks" / f"{stage}.py").read_text(), f"tasks/{stage}.py does not call {entry}"


def test_flows_open_no_sessions():
    for path in (REPO / "flows").glob("*.py"):
        text = path.read_text()
        assert ".transaction()" not in text and "session" not in text.lower(), path.name
