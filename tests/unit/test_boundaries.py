"""Where things live: runtime SQL only in pulse.warehouse, Kafka clients only from the factory (sources/kafka.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "pulse"

# SQL statements as pulse writes them (keywords upper case): SELECT ... FROM, INSERT INTO, UPDATE ... SET, DELETE FROM.
SQL = re.compile(r"\bSELECT\b[\s\S]*?\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b")

SQL_ALLOWED = {
    "warehouse": "the warehouse package: SQL lives here, grouped by table or concern",
    "stack": "the dev stack provisions its cluster, roles and database (not runtime SQL)",
}

KAFKA_CLIENTS = {"Consumer", "Producer", "AdminClient"}
KAFKA_ALLOWED = {
    "sources/kafka.py": "the factory",
}


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _allowed(path: Path, allowed: dict[str, str]) -> bool:
    relative = path.relative_to(SRC).as_posix()
    return any(relative == key or relative.startswith(key + "/") for key in allowed)


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (documentation, not SQL that runs)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def sql_literals(source: str) -> list[str]:
    """The string literals of a module that hold SQL statements (docstrings excepted)."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    return [
        node.value for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
        and SQL.search(node.value)
    ]


def kafka_constructions(source: str) -> list[int]:
    """Lines where a module constructs a confluent_kafka client (by name, alias or attribute)."""
    tree = ast.parse(source)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("confluent_kafka"):
            names |= {alias.asname or alias.name for alias in node.names if alias.name in KAFKA_CLIENTS}
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (isinstance(func, ast.Name) and func.id in names) or (
            isinstance(func, ast.Attribute) and func.attr in KAFKA_CLIENTS
        ):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('Q = "SELECT a, b FROM t WHERE c = %s"', 1),
        ('Q = ("SELECT a"\n     " FROM t")', 1),  # adjacent literals are one constant
        ('Q = """\nINSERT INTO t (a) VALUES (%s)\n"""', 1),
        ('Q = "UPDATE load_state SET batches = batches + 1"', 1),
        ('Q = "DELETE FROM quarantine WHERE quarantine_id = %s"', 1),
        ('def f() -> None:\n    """SELECT the rows FROM the table (a docstring)."""', 0),
        ('x = "select a product from the list"', 0),  # prose, not pulse's SQL
        ('x = df.select("value")', 0),  # Spark's DataFrame API
    ],
)
def test_the_sql_detector_finds_statements_and_only_statements(source: str, expected: int) -> None:
    assert len(sql_literals(source)) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from confluent_kafka import Producer\np = Producer({})", 1),
        ("from confluent_kafka import Consumer as C\nc = C({})", 1),
        ("import confluent_kafka\na = confluent_kafka.admin.AdminClient({})", 1),
        ("from confluent_kafka import Producer\ndef f(p: Producer) -> None: ...", 0),  # a type, not a client
        ("from pulse.sources import kafka\np = kafka.producer(s, client_id='x', delivery_timeout_s=1, linger_ms=0)", 0),
    ],
)
def test_the_client_detector_finds_constructions(source: str, expected: int) -> None:
    assert len(kafka_constructions(source)) == expected


def test_no_module_outside_the_warehouse_holds_sql() -> None:
    found = {
        path.relative_to(SRC).as_posix(): [text.strip().splitlines()[0][:80] for text in sql_literals(path.read_text())]
        for path in _modules() if not _allowed(path, SQL_ALLOWED)
    }
    assert {module: texts for module, texts in found.items() if texts} == {}


def test_only_the_factory_constructs_kafka_clients() -> None:
    found = {
        path.relative_to(SRC).as_posix(): kafka_constructions(path.read_text())
        for path in _modules() if not _allowed(path, KAFKA_ALLOWED)
    }
    assert {module: lines for module, lines in found.items() if lines} == {}


def test_the_warehouse_itself_is_where_the_sql_is() -> None:
    """The detector is not blind: the warehouse modules it exempts do hold SQL."""
    for module in ("kpis.py", "health.py", "quality.py", "offsets.py", "spark_ledger.py", "heartbeat.py"):
        assert sql_literals((SRC / "warehouse" / module).read_text()), module
