"""The dependencies: setup.py's floors leave out the releases with advisories that reach this
service, and `requirements.lock` (what the image installs, every file checked by its hash)
pins a release of every runtime requirement within those floors."""

from __future__ import annotations

import ast
import hashlib
import re
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from support.database import ROOT

# The first release of each package without the advisories the README's "Dependencies" names.
FIXED_IN = {"aiohttp": "3.14.4", "pyjwt": "2.15.0", "jinja2": "3.1.6"}
# The image: Debian's Python 3.11 on Linux.
IMAGE_ENVIRONMENT = {"sys_platform": "linux", "platform_system": "Linux", "python_version": "3.11"}


def runtime_requirements() -> list[Requirement]:
    """setup.py's `install_requires`, read without running it."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "install_requires":
            return [Requirement(line) for line in ast.literal_eval(node.value)]
    raise AssertionError("setup.py names no install_requires")


def locked(path: Path) -> dict[str, tuple[Requirement, int]]:
    """Each pinned package of a pip-compile output: its pin, and how many hashes it carries."""
    pins: dict[str, tuple[Requirement, int]] = {}
    for entry in path.read_text(encoding="utf-8").replace("\\\n", " ").splitlines():
        entry = entry.split("#", 1)[0].strip()
        if not entry:
            continue
        requirement, *hashes = entry.split(" --hash=")
        pin = Requirement(requirement)
        pins[canonicalize_name(pin.name)] = (pin, len(hashes))
    return pins


def test_floors_leave_out_releases_with_advisories() -> None:
    floors = {
        canonicalize_name(requirement.name): max(
            (Version(rule.version) for rule in requirement.specifier if rule.operator == ">="),
            default=None,
        )
        for requirement in runtime_requirements()
    }
    for package, fixed in FIXED_IN.items():
        floor = floors[canonicalize_name(package)]
        assert floor is not None and floor >= Version(fixed), (package, floor)


def test_the_lock_pins_every_runtime_requirement_with_hashes() -> None:
    pins = locked(ROOT / "requirements.lock")
    for requirement in runtime_requirements():
        if requirement.marker and not requirement.marker.evaluate(IMAGE_ENVIRONMENT):
            continue
        pin, _ = pins[canonicalize_name(requirement.name)]
        (exact,) = pin.specifier
        assert exact.operator == "==" and exact.version in requirement.specifier, pin
    assert all(hashes for _, hashes in pins.values())


def test_the_installed_releases_are_within_the_floors() -> None:
    for requirement in runtime_requirements():
        if requirement.marker is None or requirement.marker.evaluate():
            assert version(requirement.name) in requirement.specifier, requirement


def test_the_vendored_browser_scripts_are_the_pinned_release() -> None:
    """static/vendor/ holds what `make vendor` fetched from the npm registry at the Makefile's
    pin, byte for byte as recorded in static/vendor/SHA256SUMS: a changed file fails here."""
    vendor = ROOT / "static/vendor"
    pinned = {}
    for line in (vendor / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, name = line.split(maxsplit=1)
        pinned[name] = digest
    present = {str(path.relative_to(vendor)) for path in vendor.rglob("*") if path.is_file()} - {
        "SHA256SUMS"
    }
    assert present == set(pinned)
    for name, digest in pinned.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    version = re.search(r"^MARKDOWN_IT\s*\?=\s*(\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert version is not None
    banner = (vendor / "markdown-it/markdown-it.min.js").read_text(encoding="utf-8")[:100]
    assert banner.startswith(f"/*! markdown-it {version.group(1)} "), banner
