"""Resources found through one function in a checkout and in a frozen bundle, and the
folder put on beat's PYTHONPATH: only a link to the panel's package, kept right whatever
is in its way; the installer's parts that need no build: the maintainer scripts without
the desktop's helpers, the scheduler's files importing only celery, and every Qt module
the panel imports kept in the bundle. (An installed wheel: tests/test_wheel.py; the
built and installed .deb: tests/test_installer.py.)"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from beat_panel import paths
from beat_panel.control.launch import configured_launch, manual_start_command

from conftest import REPO

PACKAGE = REPO / "beat_panel"


def link_folder_entries(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir())


def assert_only_the_package(folder: Path, package: Path = PACKAGE) -> None:
    assert link_folder_entries(folder) == ["beat_panel"]
    link = folder / "beat_panel"
    assert link.is_symlink() and os.readlink(link) == str(package)


# Resources


@pytest.mark.parametrize("name", ["icons/beat-panel.svg",
                                  "io.github.beatpanel.BeatPanel.desktop",
                                  "start_celery_beat.sh"])
def test_every_resource_is_found_in_the_checkout(name: str):
    found = paths.resource(name)
    assert found.is_file()
    # The files stay at the top level of the repository; the package only links to them.
    assert found.parent in (REPO / "resources", REPO / "resources" / "icons", REPO)


def test_the_start_script_is_the_one_at_the_top_of_the_checkout():
    assert paths.resource("start_celery_beat.sh") == REPO / "start_celery_beat.sh"
    assert paths.resource(".") == REPO / "resources"


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
    assert paths.resource(".") == resources


def test_a_frozen_bundle_links_its_own_package_for_beat(frozen_bundle: Path):
    assert_only_the_package(paths.plugin_import_dir(), frozen_bundle / "beat_panel")


# The folder on beat's PYTHONPATH


def test_the_import_folder_holds_only_a_link_to_the_package_never_the_checkout():
    folder = paths.plugin_import_dir()
    assert folder.is_relative_to(paths.state_dir())
    assert_only_the_package(folder)
    assert paths.plugin_import_dir() == folder  # the same folder each time


def test_beat_with_the_folder_on_its_path_finds_the_panel_but_not_the_checkout(tmp_path):
    folder = paths.plugin_import_dir()
    code = ("import importlib.util as u\n"
            "for name in ('beat_panel', 'tests', 'bench', 'packaging', 'conftest'):\n"
            "    spec = u.find_spec(name)\n"
            "    print(name, spec.origin if spec else None)\n")
    # -S: no site-packages, so only PYTHONPATH and the standard library answer.
    done = subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path, text=True,
                          capture_output=True, timeout=60, check=True,
                          env=dict(os.environ, PYTHONPATH=str(folder)))
    found = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert found["beat_panel"] == str(folder / "beat_panel" / "__init__.py")
    assert found["tests"] == found["bench"] == found["packaging"] == found["conftest"] == "None"


def test_the_launch_puts_the_link_folder_first_and_never_the_checkout(fake_project):
    project = fake_project()
    project.write_config(schedule_file="schedule.json", app=project.app,
                         command=[str(project.celery)])
    spec = configured_launch(project.load())
    assert spec is not None
    entries = spec.env["PYTHONPATH"].split(os.pathsep)
    assert entries[0] == str(paths.plugin_import_dir())
    assert str(REPO) not in entries and str(REPO / "beat_panel") not in entries


@pytest.mark.parametrize("in_the_way", ["link elsewhere", "dangling link", "file",
                                        "folder", "empty folder"])
def test_whatever_is_in_the_way_of_the_link_is_replaced(tmp_path: Path, in_the_way: str):
    folder = paths.plugin_import_dir()
    link = folder / "beat_panel"
    link.unlink()
    elsewhere = tmp_path / "old-checkout" / "beat_panel"
    elsewhere.mkdir(parents=True)
    if in_the_way == "link elsewhere":  # the checkout moved, or another install
        link.symlink_to(elsewhere)
    elif in_the_way == "dangling link":
        link.symlink_to(tmp_path / "gone")
    elif in_the_way == "file":
        link.write_text("")
    elif in_the_way == "folder":
        link.mkdir()
        (link / "__init__.py").write_text("raise ImportError('the wrong beat_panel')\n")
    else:
        link.mkdir()
    assert paths.plugin_import_dir() == folder
    assert_only_the_package(folder)
    assert elsewhere.is_dir()  # a link's old target is left alone


def test_strays_that_could_shadow_a_project_module_are_removed():
    folder = paths.plugin_import_dir()
    (folder / "tests").mkdir()
    (folder / "tests" / "__init__.py").write_text("")
    (folder / "packaging.py").write_text("")
    (folder / "bench").symlink_to(REPO / "bench")
    paths.plugin_import_dir()
    assert_only_the_package(folder)
    assert (REPO / "bench").is_dir()  # a stray link goes, not what it points to


def test_a_file_in_place_of_the_folders_is_replaced():
    parent = paths.state_dir() / paths.PYTHONPATH_DIR_NAME
    parent.parent.mkdir(parents=True, exist_ok=True)
    parent.write_text("not a folder")
    folder = paths.plugin_import_dir()
    assert_only_the_package(folder)
    folder.joinpath("beat_panel").unlink()
    folder.rmdir()
    folder.write_text("not a folder either")
    assert_only_the_package(paths.plugin_import_dir())


def test_the_folder_of_an_install_that_moved_away_is_forgotten(tmp_path: Path):
    parent = paths.state_dir() / paths.PYTHONPATH_DIR_NAME
    moved, other = parent / "0123456789ab", parent / "ba9876543210"
    moved.mkdir(parents=True)
    (moved / "beat_panel").symlink_to(tmp_path / "moved-away" / "beat_panel")
    other.mkdir()
    (other / "beat_panel").symlink_to(PACKAGE.parent / "beat_panel")  # alive: kept
    folder = paths.plugin_import_dir()
    assert sorted(p.name for p in parent.iterdir()) == sorted([folder.name, other.name])


RACER = """
import sys
from pathlib import Path
from beat_panel import paths
package = Path(paths.__file__).resolve().parent
for _ in range(int(sys.argv[1])):
    folder = paths.plugin_import_dir()
    paths._replace_with_link(folder / "beat_panel", package)
print(paths.plugin_import_dir())
"""


def test_panels_creating_the_link_at_once_all_succeed_and_agree():
    folder = paths.plugin_import_dir()
    (folder / "beat_panel").unlink()
    (folder / "beat_panel").mkdir()  # a folder in the way, for all of them at once
    racers = [subprocess.Popen([sys.executable, "-c", RACER, "150"], text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
              for _ in range(4)]
    outputs = [racer.communicate(timeout=90) for racer in racers]
    assert [racer.returncode for racer in racers] == [0] * 4, outputs
    assert {out.strip() for out, _ in outputs} == {str(folder)}
    # Temporary links and folders moved aside are all gone.
    assert link_folder_entries(folder) == ["beat_panel"]
    assert_only_the_package(folder)


# start_celery_beat.sh


def test_the_start_script_gives_beat_the_same_link_folder(fake_project):
    project = fake_project()
    done = subprocess.run(
        ["bash", str(paths.resource("start_celery_beat.sh")), "--app", project.app,
         "--workdir", str(project.root), "--pidfile", str(project.pidfile),
         "--logfile", str(project.logfile), "--celery", str(project.celery),
         "--schedule-file", str(project.root / "schedule.json"), "--settle", "0.3",
         "--timeout", "0.5"],  # the fake beat never reports a tick
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    pid = int(project.pidfile.read_text())
    project.tracker.adopt(pid)
    pythonpath = psutil.Process(pid).environ()["PYTHONPATH"].split(os.pathsep)
    assert pythonpath[0] == str(paths.plugin_import_dir())
    assert str(REPO) not in pythonpath
    assert_only_the_package(Path(pythonpath[0]))


def test_the_manual_start_command_names_the_script_the_panel_ships(fake_project):
    project = fake_project()
    manual = manual_start_command(project.load())
    assert str(paths.resource("start_celery_beat.sh")) in manual


# The installer's parts, without building it (tests/test_installer.py builds it)


@pytest.mark.parametrize("script", ["postinst configure", "prerm remove", "postrm purge"])
def test_the_maintainer_scripts_succeed_without_the_desktop_helpers(script: str,
                                                                    tmp_path: Path):
    name, argument = script.split()
    empty = tmp_path / "empty-path"
    empty.mkdir()
    done = subprocess.run(["/bin/sh", str(REPO / "packaging" / "debian" / name), argument],
                          capture_output=True, text=True, check=False, timeout=60,
                          env={"PATH": str(empty)})
    assert done.returncode == 0, done.stderr


def test_the_parts_of_the_scheduler_import_only_celery_and_the_standard_library():
    sys.path.insert(0, str(REPO / "packaging"))
    try:
        import parts
    finally:
        sys.path.remove(str(REPO / "packaging"))
    listed = {f"beat_panel/{name}" for name in parts.SCHEDULER}
    for name in listed:
        if not name.endswith(".py"):
            continue
        tree = ast.parse((REPO / name).read_text())
        top_level = set(tree.body)
        for node in ast.walk(tree):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            for module in modules:
                top = module.split(".")[0]
                # Imports inside functions may name optional extras (cron_descriptor for
                # a crontab's description in words, which beat never asks for).
                if node in top_level:
                    assert top in sys.stdlib_module_names or top in (
                        "celery", "beat_panel", "__future__"), (name, module)
                if top == "beat_panel":
                    path = module.replace(".", "/")
                    assert f"{path}.py" in listed or f"{path}/__init__.py" in listed, \
                        (name, module)


def test_the_bundle_keeps_every_qt_module_the_panel_imports():
    """The bundle leaves out every PySide6 module that parts.QT_MODULES does not name: a
    new import of another one must be added there, or the installed app fails on it."""
    sys.path.insert(0, str(REPO / "packaging"))
    try:
        import parts
    finally:
        sys.path.remove(str(REPO / "packaging"))
    used = set()
    for source in (REPO / "beat_panel").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.startswith("PySide6."):
                used.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                used |= {a.name.split(".")[1] for a in node.names
                         if a.name.startswith("PySide6.")}
    assert used and used <= set(parts.QT_MODULES), used - set(parts.QT_MODULES)


def test_the_apps_desktop_file_name_is_the_menu_entry_it_ships(qapp):
    """Wayland's app id and the startup notification name the entry the package installs."""
    from beat_panel import paths
    from beat_panel.ui.app import DESKTOP_ID, application

    assert application().desktopFileName() == DESKTOP_ID
    assert paths.resource(f"{DESKTOP_ID}.desktop").is_file()
