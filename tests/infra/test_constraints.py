"""constraints.txt pins the whole stack of pyproject's extras, with registry packages only."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.paths import ROOT

PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!-]+)$")


def _pins() -> dict[str, Version]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pins = {}
    for line in lines:
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"constraints.txt: {line!r} is not NAME==VERSION (no paths, URLs or -e lines)"
        pins[canonicalize_name(match["name"])] = Version(match["version"])
    return pins


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = [s for extra in project["optional-dependencies"].values() for s in extra]
    return [Requirement(s) for s in specs + project["dependencies"] if not s.startswith("recs[")]


def test_every_line_is_a_registry_pin_and_the_project_is_not_one():
    pins = _pins()
    assert len(pins) > 100
    assert "recs" not in pins  # the project installs from the checkout, editable
    assert not any(v.local for v in pins.values()), "a +local version is not on PyPI"


def test_every_dependency_of_pyproject_is_pinned_within_its_range():
    pins = _pins()
    for requirement in _requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in constraints.txt: run `make constraints`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {requirement}: "
            "run `make constraints`"
        )
