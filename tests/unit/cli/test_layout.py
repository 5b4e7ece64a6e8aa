"""The CLI stays a thin layer: every module of pulse.cli is short, and none talks SQL or supervises processes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

CLI = Path(__file__).parents[3] / "src" / "pulse" / "cli"
MODULES = sorted(CLI.glob("*.py"))
MAX_LINES = 150
# Libraries that a command module has no business using directly: the database, Kafka, processes.
FORBIDDEN_IMPORTS = ("psycopg", "psycopg_pool", "confluent_kafka", "subprocess", "signal")
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|TRUNCATE)\b.*\b(FROM|INTO|SET|TABLE|WHERE)\b",
                 re.IGNORECASE | re.DOTALL)


def _runtime_imports(tree: ast.Module) -> list[str]:
    """Modules imported outside `if TYPE_CHECKING:` blocks (at any depth: commands import lazily)."""
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def test_the_package_has_its_modules() -> None:
    assert {m.name for m in MODULES} >= {"__init__.py", "__main__.py", "common.py", "stack.py", "pipeline.py",
                                        "reads.py", "serve.py", "ops.py", "superset.py"}


@pytest.mark.parametrize("module", MODULES, ids=[m.name for m in MODULES])
def test_a_cli_module_is_short(module: Path) -> None:
    lines = len(module.read_text().splitlines())
    assert lines <= MAX_LINES, f"{module.name} has {lines} lines (at most {MAX_LINES}): move logic to the library"


@pytest.mark.parametrize("module", MODULES, ids=[m.name for m in MODULES])
def test_a_cli_module_imports_no_client_and_holds_no_sql(module: Path) -> None:
    tree = ast.parse(module.read_text())
    forbidden = [name for name in _runtime_imports(tree) if name.split(".")[0] in FORBIDDEN_IMPORTS]
    assert forbidden == [], f"{module.name} imports {forbidden}: call a library function instead"
    assert "killpg" not in module.read_text(), f"{module.name} supervises processes"
    texts = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    sql = [text for text in texts if SQL.search(text)]
    assert sql == [], f"{module.name} holds SQL text: {sql}"


def test_the_checks_catch_what_they_look_for() -> None:
    tree = ast.parse("import typer\nif TYPE_CHECKING:\n    import psycopg\n"
                     "def f():\n    import psycopg\n    from subprocess import run\n")
    assert [n for n in _runtime_imports(tree) if n.split(".")[0] in FORBIDDEN_IMPORTS] == ["psycopg", "subprocess"]
    assert SQL.search("SELECT reason, raw FROM quarantine") and SQL.search("insert into t values (1)")
    assert not SQL.search("Send one alert to Slack (retries rate limits and server errors).")
