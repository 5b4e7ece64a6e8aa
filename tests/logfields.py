"""The fields the Elastic configs in deploy/logging rely on, read from the configs themselves."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LOGGING = Path(__file__).parents[1] / "deploy" / "logging"
FILEBEAT = LOGGING / "filebeat.yml"
LOGSTASH = LOGGING / "pulse.conf"
TEMPLATE = LOGGING / "pulse-logs-template.json"

_BRACKET_PATH = re.compile(r"((?:\[[@\w.]+\])+)")
_CONDITION = re.compile(r"^\s*(?:else\s+)?if\s+(.*)\{\s*$", re.M)
_COPY = re.compile(r"\"((?:\[[@\w.]+\])+)\"\s*=>\s*\"((?:\[[@\w.]+\])+)\"")
_ADD_TAG = re.compile(r"add_tag\s*=>")


@dataclass(frozen=True)
class ElasticFields:
    """Field paths (dotted) the shipping configs use."""

    every_line: set[str]  # filebeat keeps a line only when these hold
    conditions: set[str]  # logstash decides on these
    produced: set[str]  # fields logstash itself writes (not expected from pulse)
    mapped: set[str]  # leaf fields of the index template

    @property
    def expected_from_pulse(self) -> set[str]:
        """Fields pulse's lines must carry (in at least one line) for the configs to be of use."""
        return (self.conditions | self.mapped | self.every_line) - self.produced


def _dotted(bracketed: str) -> str:
    return ".".join(re.findall(r"\[([@\w.]+)\]", bracketed))


def _condition_fields(node: Any) -> set[str]:
    """Field names in a Beats condition (equals/has_fields/regexp/... nested in and/or/not)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("and", "or", "not"):
                found |= _condition_fields(value)
            elif key == "has_fields":
                found |= set(value)
            elif isinstance(value, dict):
                found |= set(value)
    elif isinstance(node, list):
        for item in node:
            found |= _condition_fields(item)
    return found


def _leaves(properties: dict[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            out |= _leaves(spec["properties"], f"{path}.")
        else:
            out.add(path)
    return out


def read_elastic_fields() -> ElasticFields:
    """Parse filebeat.yml (YAML), pulse.conf (Logstash) and the template (JSON); collect field paths."""
    filebeat = yaml.safe_load(FILEBEAT.read_text())
    every_line: set[str] = set()
    for processor in filebeat.get("processors", []):
        for action in processor.values():
            if isinstance(action, dict) and "when" in action:
                every_line |= _condition_fields(action["when"])
    logstash = LOGSTASH.read_text()
    conditions = {_dotted(m) for cond in _CONDITION.findall(logstash) for m in _BRACKET_PATH.findall(cond)}
    produced = {_dotted(target) for _, target in _COPY.findall(logstash)}
    if _ADD_TAG.search(logstash):
        produced.add("tags")
    conditions |= {_dotted(source) for source, _ in _COPY.findall(logstash)}
    template = json.loads(TEMPLATE.read_text())
    mapped = _leaves(template["template"]["mappings"]["properties"])
    return ElasticFields(every_line, conditions, produced, mapped)


def expand(doc: dict[str, Any]) -> dict[str, Any]:
    """Expand dotted keys into objects, as Filebeat's ndjson parser does with expand_keys."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        value = expand(value) if isinstance(value, dict) else value
        node = out
        *parents, last = key.split(".") if key != "@timestamp" else [key]
        for part in parents:
            node = node.setdefault(part, {})
        if isinstance(value, dict) and isinstance(node.get(last), dict):
            node[last].update(value)
        else:
            node[last] = value
    return out


def leaf_paths(doc: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted paths of the leaves of an (expanded) document; lists count as leaves."""
    out: set[str] = set()
    for key, value in doc.items():
        if isinstance(value, dict):
            out |= leaf_paths(value, f"{prefix}{key}.")
        else:
            out.add(f"{prefix}{key}")
    return out
