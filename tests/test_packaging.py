"""Resources found through one function in a checkout and in a frozen bundle.
(An installed wheel: tests/test_wheel.py.)"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from beat_panel import paths
from beat_panel.control.launch import manual_start_command

from conftest import REPO

PACKAGE = REPO / "beat_panel"


def link_folder_entries(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir())


def assert_only_the_package(folder: Path, package: Path = PACKAGE) -> None:
    assert link_folder_entries(folder) == ["beat_panel"]
    link = folder / "beat_panel"
    assert link.is_symlink() and os.readlink(link) == str(package)


# Resources


@pytest.mark.parametrize("name", ["icons/beat-panel.svg", "beat-panel.desktop",
                                  "start_celery_beat.sh"])
def test_every_resource_is_found_in_the_checkout(name: str):
    found = paths.resource(name)
    assert found.is_file()
    # The files stay at the top level of the repository; the package only links to them.
    assert found.parent in (REPO / "resources", REPO / "resources" / "icons", REPO)


def test_the_start_script_is_the_one_at_the_top_of_the_checkout():
    assert paths.resource("start_celery_beat.sh") == REPO / "start_celery_beat.sh"
    assert paths.resources_dir() == REPO / "resources"


@pytest.mark.parametrize("name", ["../pyproject.toml", "/etc/passwd", "icons/../../x"])
def test_a_resource_name_cannot_leave_the_resources(name: str):
    with pytest.raises(ValueError, match="a path inside resources/"):
        paths.resource(name)


@pytest.fixture
def frozen_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder laid out as a PyInstaller bundle carries the package and its resources,
    with sys.frozen and sys._MEIPASS pointing at it as they do inside the bundle."""
    bundle = tmp_path / "bundle"
    resources = bundle / "beat_panel" / "resources"
    (resources / "icons").mkdir(parents=True)
    (resources / "icons" / "beat-panel.svg").write_text("<svg/>")
    (resources / "beat-panel.desktop").write_text("[Desktop Entry]\n")
    (resources / "start_celery_beat.sh").write_text("#!/bin/bash\n")
    (bundle / "beat_panel" / "plugin.py").write_text("")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    return bundle


def test_a_frozen_bundle_finds_its_resources_inside_the_bundle(frozen_bundle: Path):
    resources = frozen_bundle / "beat_panel" / "resources"
    assert paths.resource("icons/beat-panel.svg") == resources / "icons" / "beat-panel.svg"
    assert paths.resource("start_celery_beat.sh") == resources / "start_celery_beat.sh"
    assert paths.resources_dir() == resources


def test_the_manual_start_command_names_the_script_the_panel_ships(fake_project):
    project = fake_project()
    manual = manual_start_command(project.load())
    assert str(paths.resource("start_celery_beat.sh")) in manual
