"""Package data is found through importlib.resources, inside the package (a wheel installed anywhere has it)."""

from __future__ import annotations

from pathlib import Path

import pulse
from pulse.resources import resource_path
from pulse.serve.superset import BUNDLE_DIR
from pulse.stack.prometheus import ALERT_RULES
from pulse.stack.superset import CONFIG

PACKAGE = Path(pulse.__file__).parent


def test_the_runtime_files_are_package_data() -> None:
    for path in (BUNDLE_DIR / "metadata.yaml", ALERT_RULES, CONFIG, resource_path("maven", "kafka-pom.xml"),
                 resource_path("maven", "spark-pom.xml")):
        assert path.is_file(), path
        assert path.is_relative_to(PACKAGE / "resources"), path
    assert len(list(BUNDLE_DIR.rglob("*.yaml"))) > 6
