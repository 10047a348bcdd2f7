"""The installer, as a person gets it: `bash packaging/build.sh` on a copy of the checkout
makes the .deb and the scheduler wheel; the .deb passes lintian but for the tags
explained in packaging/README.md, installs with `apt-get install ./….deb` on this
machine, and the installed `beat-panel` answers `--version`, runs and reports a real demo
beat, paints its window offscreen, puts its icon in a real tray (Xvfb, openbox,
trayer), sits in the menu with its icons and the window class its desktop file names,
and starts a project's beat in the project's own environment (celery only, no PySide6)
on the panel's schedule. Purging it leaves nothing behind. A
project environment with only celery and the scheduler wheel runs a beat on a panel
schedule.

Building takes a minute or two and installing needs root (CI runs as root): the whole
module is `slow`, and the package is built once for it."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from beat_panel import __version__

from conftest import REPO, ProcessTracker, wait_until
from desktop import Desktop, _start_x_server
from test_wheel import clean_env, copy_checkout, make_venv, run, run_beat_on_a_panel_schedule

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

APP_ID = "io.github.beatpanel.BeatPanel"
PREFIX = Path("/usr/lib/beat-panel")
INSTALLED = Path("/usr/bin/beat-panel")
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)


def package_listing(deb: Path) -> list[str]:
    """`dpkg-deb -c` without the dates: mode, owner, size and name of every entry."""
    out = run(["dpkg-deb", "-c", deb]).stdout
    rows = []
    for line in out.splitlines():
        mode, owner, size, _date, _time, name = line.split(None, 5)
        rows.append(f"{mode} {owner} {size} {name}")
    return rows


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="beat-panel-installer-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def build(checkout: Path, **env: str) -> tuple[Path, Path, str]:
    """`bash packaging/build.sh` in `checkout`, with this test run's virtual environment
    (it has PyInstaller); returns the .deb, the wheel and what the build printed. The
    copy has no .git: the last commit's date and committer are given as a build from
    the repository takes them."""
    commit = run(["git", "log", "-1", "--format=%ct%n%cn <%ce>"], cwd=REPO).stdout
    epoch, maintainer = commit.splitlines()[:2]
    done = run(["bash", "packaging/build.sh"], cwd=checkout, timeout=1200,
               env=clean_env(BEAT_PANEL_VENV=sys.prefix, SOURCE_DATE_EPOCH=epoch,
                             DEB_MAINTAINER=maintainer, **env))
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    deb = checkout / "dist" / f"beat-panel_{__version__}_{arch}.deb"
    wheel = checkout / "dist" / f"beat_panel_scheduler-{__version__}-py3-none-any.whl"
    assert deb.is_file() and wheel.is_file(), done.stdout
    return deb, wheel, done.stdout


@pytest.fixture(scope="module")
def checkout(scratch: Path) -> Path:
    """The files of a fresh checkout (without its .git)."""
    tree = scratch / "checkout"
    copy_checkout(tree)
    return tree


@pytest.fixture(scope="module")
def built(checkout: Path) -> tuple[Path, Path]:
    deb, wheel, said = build(checkout)
    print(said.splitlines()[-1])
    return deb, wheel


@pytest.fixture(scope="module")
def deb(built: tuple[Path, Path]) -> Path:
    return built[0]


@pytest.fixture(scope="module")
def scheduler_wheel(built: tuple[Path, Path]) -> Path:
    return built[1]


def control(deb: Path) -> dict[str, str]:
    text = run(["dpkg-deb", "-f", deb]).stdout
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line[:1] not in (" ", "\t") and ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    return fields


# The build


def test_the_build_names_the_package_and_the_wheel_by_the_one_version(deb: Path):
    fields = control(deb)
    assert fields["Package"] == "beat-panel"
    assert fields["Version"] == __version__
    assert fields["Architecture"] == run(["dpkg", "--print-architecture"]).stdout.strip()
    # The version is written in beat_panel/__init__.py only; pyproject reads it from there.
    assert 'version = { attr = "beat_panel.__version__" }' in (
        REPO / "pyproject.toml").read_text()


def test_the_package_depends_on_the_system_libraries_the_bundle_loads(deb: Path):
    depends = {part.strip().split()[0] for part in control(deb)["Depends"].split(",")}
    # Qt links to libGL and libEGL, which the bundle does not carry; xcb's helpers,
    # fontconfig, D-Bus and the zone data come from the system too.
    for needed in ("libgl1", "libegl1", "libc6", "libxcb1", "libxcb-cursor0",
                   "libxkbcommon-x11-0", "libfontconfig1", "libdbus-1-3", "tzdata"):
        assert needed in depends, depends
    # What only a Python prompt or the left-out GTK theme would have needed.
    assert not depends & {"libreadline8", "libncursesw6", "libgtk-3-0"}, depends


def test_installed_size_is_what_the_files_take(deb: Path, scratch: Path):
    unpacked = scratch / "unpacked"
    run(["dpkg-deb", "-x", deb, unpacked])
    kib = 0
    for entry in unpacked.rglob("*"):
        kib += -(-entry.lstat().st_size // 1024) if entry.is_file() and \
            not entry.is_symlink() else 1
    assert int(control(deb)["Installed-Size"]) == kib
    assert kib <= 150 * 1024, f"the bundle takes {kib / 1024:.0f} MiB unpacked"


def test_the_package_holds_the_command_menu_entry_icons_and_copyright(deb: Path):
    names = {row.split(" ", 3)[3].removeprefix(".") for row in package_listing(deb)}
    assert "/usr/bin/beat-panel -> ../lib/beat-panel/beat-panel" in names
    for path in (f"/usr/share/applications/{APP_ID}.desktop",
                 f"/usr/share/icons/hicolor/scalable/apps/{APP_ID}.svg",
                 "/usr/share/doc/beat-panel/copyright",
                 "/usr/share/doc/beat-panel/changelog.gz",
                 "/usr/share/man/man1/beat-panel.1.gz",
                 "/usr/lib/beat-panel/beat-panel", "/usr/lib/beat-panel/celery",
                 "/usr/lib/beat-panel/_internal/beat_panel/plugin.py",
                 "/usr/lib/beat-panel/_internal/beat_panel/resources/icons/beat-panel.svg"):
        assert path in names, path
    for size in ICON_SIZES:
        assert f"/usr/share/icons/hicolor/{size}x{size}/apps/{APP_ID}.png" in names


def test_the_bundle_carries_only_the_qt_the_panel_uses(deb: Path, tmp_path: Path):
    names = [row.split(" ", 3)[3] for row in package_listing(deb)]
    run(["dpkg-deb", "-x", deb, tmp_path])
    dangling = [str(p) for p in tmp_path.rglob("*") if p.is_symlink() and not p.exists()
                and not str(p).endswith("/usr/bin/beat-panel")]
    assert not dangling, dangling
    modules = {Path(n).name.split(".")[0] for n in names
               if re.search(r"/PySide6/Qt\w+\.abi3\.so$", n)}
    assert modules == {"QtCore", "QtGui", "QtWidgets", "QtNetwork"}
    libraries = {m.group(1) for n in names if (m := re.search(r"/libQt6(\w+)\.so", n))}
    assert not libraries & {"Qml", "Quick", "Pdf", "WaylandClient", "OpenGLWidgets"}, libraries
    assert not [n for n in names if "/translations/" in n or "libqgtk3" in n]


def test_lintian_finds_nothing_but_the_tags_explained_in_the_packaging_readme(deb: Path):
    done = subprocess.run(["lintian", "--show-overrides", str(deb)], capture_output=True,
                          text=True, timeout=600, check=False)
    lines = [line for line in done.stdout.splitlines() if re.match(r"[EWO]: ", line)]
    unexplained = [line for line in lines if not line.startswith("O: ")]
    assert not unexplained, done.stdout
    readme = (REPO / "packaging" / "README.md").read_text()
    for line in lines:
        tag = line.split()[2]
        assert f"`{tag}`" in readme, f"{tag} is overridden but not explained"


def test_two_builds_of_one_commit_list_the_same_files(deb: Path, checkout: Path, scratch: Path):
    first = package_listing(deb)
    kept = scratch / "first.deb"
    shutil.copy2(deb, kept)
    # Uncompressed this time: the files are what is compared, not the archive.
    again, _, _ = build(checkout, DEB_COMPRESSION="none")
    second = package_listing(again)
    shutil.copy2(kept, deb)  # the tests after this one install the first build
    assert first == second
    assert control(kept)["Installed-Size"] == control(again)["Installed-Size"]


def test_the_scheduler_wheel_holds_the_scheduler_and_the_model_and_needs_only_celery(
        scheduler_wheel: Path):
    import zipfile

    with zipfile.ZipFile(scheduler_wheel) as archive:
        names = archive.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = archive.read(metadata).decode()
    assert "beat_panel/plugin.py" in names and "beat_panel/schedule/model.py" in names
    assert not [n for n in names if n.startswith(("beat_panel/ui/", "beat_panel/cli/"))]
    requires = [line.split(":", 1)[1].strip() for line in meta.splitlines()
                if line.startswith("Requires-Dist:")]
    assert requires == ["celery>=5.3"]
    assert f"Version: {__version__}" in meta


# Installed with apt


def apt(*args: str) -> subprocess.CompletedProcess:
    # Wait for dpkg's lock rather than fail while another install runs.
    return run(["apt-get", "-o", "DPkg::Lock::Timeout=600", *args], timeout=900,
               env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


@pytest.fixture(scope="module")
def installed(deb: Path) -> Iterator[list[str]]:
    """The package installed by apt (as a person would: `apt-get install ./….deb`), and
    what dpkg says it installed; purged at the end whatever happened."""
    if os.geteuid() != 0:
        pytest.skip("installing a package needs root (CI runs as root)")
    if subprocess.run(["dpkg-query", "-W", "beat-panel"], capture_output=True,
                      check=False).returncode == 0:
        pytest.fail("beat-panel is installed on this machine already (by hand, or by a "
                    "test run going on now): `apt-get purge beat-panel` first")
    apt("install", "-y", "-q", "--no-install-recommends", str(deb))
    files = run(["dpkg-query", "-L", "beat-panel"]).stdout.splitlines()
    try:
        yield files
    finally:
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "purge", "-y", "-q",
                        "beat-panel"], capture_output=True, check=False, timeout=900)


def installed_cli(*args: str, cwd: Path | None = None, **env: str
                  ) -> subprocess.CompletedProcess:
    return subprocess.run([str(INSTALLED), *args], capture_output=True, text=True,
                          timeout=180, check=False, cwd=cwd, env=clean_env(**env))


def test_the_installed_command_says_its_version(installed: list[str]):
    assert INSTALLED.resolve() == PREFIX / "beat-panel"
    done = installed_cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"beat-panel {__version__}"


def test_the_installed_panel_describes_a_crontab_in_words(installed: list[str]):
    """cron_descriptor's word lists are data files beside its code: without them in the
    bundle, every crontab read as its raw fields."""
    done = installed_cli("schedule", "list", "--json")
    assert done.returncode == 0, done.stderr
    words = {e["name"]: e["schedule"] for e in json.loads(done.stdout)["entries"]}
    assert words["tidy-up"] == "every hour", words


def test_the_installed_panel_starts_reports_and_stops_a_real_demo_beat(
        installed: list[str], procs: ProcessTracker):
    """With nothing configured: the demo project, whose beat runs on the bundle's own
    celery (no Python on the machine needed for it)."""
    demo_pidfile = Path(os.environ["XDG_DATA_HOME"]) / "beat-panel" / "demo" / "run" / "beat.pid"
    procs.own_beats_of(pidfile=demo_pidfile)
    started = installed_cli("start", "--json")
    result = json.loads(started.stdout)
    for pid in result.get("new_pids", []):
        procs.adopt(pid)
    assert started.returncode == 0 and result["success"], started.stdout + started.stderr
    assert f"--celery {PREFIX / 'celery'}" in result["manual_start_command"]

    def status() -> dict:
        done = installed_cli("status", "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    wait_until(lambda: status()["schedule_applied"] is True, timeout=30,
               what="the demo beat to apply the panel's schedule")
    now = status()
    assert now["running"] is True and now["pids"] == result["new_pids"]
    assert now["count"] == 1
    stopped = installed_cli("stop", "--json")
    assert json.loads(stopped.stdout)["success"], stopped.stdout
    assert status()["running"] is False


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


def test_the_installed_window_paints_offscreen(installed: list[str], tmp_path: Path):
    shot = tmp_path / "installed-window.png"
    done = installed_cli("gui", "--screenshot", str(shot), QT_QPA_PLATFORM="offscreen")
    assert done.returncode == 0, done.stderr
    width, height = png_size(shot)
    assert width >= 600 and height >= 400
    keep = os.environ.get("BEAT_PANEL_KEEP_SCREENSHOT")
    if keep:  # to look at it: BEAT_PANEL_KEEP_SCREENSHOT=/tmp/installed.png
        shutil.copy2(shot, keep)


def desktop_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser["Desktop Entry"]


def test_the_menu_entry_and_its_icons_are_where_desktops_look(installed: list[str]):
    entry_path = Path("/usr/share/applications") / f"{APP_ID}.desktop"
    assert str(entry_path) in installed
    run(["desktop-file-validate", entry_path])
    entry = desktop_entry(entry_path)
    assert entry["Name"] == "Beat Panel"
    assert shutil.which(entry["Exec"].split()[0]) == str(INSTALLED)
    assert entry["Icon"] == APP_ID
    hicolor = Path("/usr/share/icons/hicolor")
    assert "<svg" in (hicolor / "scalable" / "apps" / f"{APP_ID}.svg").read_text()
    for size in ICON_SIZES:
        assert png_size(hicolor / f"{size}x{size}" / "apps" / f"{APP_ID}.png") == (size, size)


def test_the_window_has_the_class_the_menu_entry_names(installed: list[str],
                                                        procs: ProcessTracker,
                                                        tmp_path: Path):
    """Desktops group a window under its menu entry by StartupWMClass: the installed
    window's X11 class must be that string."""
    wm_class = desktop_entry(Path("/usr/share/applications") / f"{APP_ID}.desktop")[
        "StartupWMClass"]
    server, x_env = _start_x_server(procs)
    env = clean_env(DISPLAY=x_env["DISPLAY"], QT_QPA_PLATFORM="xcb")

    def classes() -> list[tuple[str, str]]:
        tree = subprocess.run(["xwininfo", "-root", "-tree"], env=env, capture_output=True,
                              text=True, check=False).stdout
        return re.findall(r'\("([^"]*)" "([^"]*)"\)', tree)

    with open(tmp_path / "gui.log", "wb") as log:
        window = procs.popen([str(INSTALLED), "gui"], env=env, stdout=log, stderr=log)
        wait_until(lambda: any(cls == wm_class for _, cls in classes()), timeout=60,
                   what=f"a window of class {wm_class!r}")
    print("window classes:", classes())
    # Gracefully, so that the X server removes its lock and socket.
    for proc in (window, server):
        proc.terminate()
        proc.wait(timeout=30)


def test_the_installed_tray_sits_in_the_tray(installed: list[str], procs: ProcessTracker,
                                            tmp_path: Path, desktop: Desktop):
    """`beat-panel tray` from the package, on a desktop with a tray host (trayer)."""
    log = tmp_path / "tray.log"
    with open(log, "wb") as out:
        tray = procs.popen([str(INSTALLED), "tray", "--wait-for-tray", "30"],
                           env=clean_env(DISPLAY=desktop.env["DISPLAY"],
                                         QT_QPA_PLATFORM="xcb"),
                           stdout=out, stderr=out)

    def embedded() -> bool:
        assert tray.poll() is None, f"the tray exited: {log.read_text()}"
        return desktop.tray_icon() is not None

    wait_until(embedded, timeout=60, what="the installed panel's icon in trayer")
    tray.terminate()
    tray.wait(timeout=30)


def test_a_project_beat_started_by_the_installed_panel_runs_the_schedule_without_pyside(
        installed: list[str], scratch: Path, tmp_path: Path, procs: ProcessTracker):
    """The person points the panel at their project: beat runs with the project's own
    celery, in an environment without PySide6, and imports the scheduler from the
    installed package."""
    venv = scratch / "project-venv"
    if not venv.exists():
        make_venv(venv, "celery>=5.3")
    python = venv / "bin" / "python"
    assert run([python, "-c", "import importlib.util as u; print(u.find_spec('PySide6'))"],
               env=clean_env()).stdout.strip() == "None"
    project = tmp_path / "project"
    broker = project / "broker"
    broker.mkdir(parents=True)
    app = f"projapp_{uuid.uuid4().hex[:8]}"
    # The app names no scheduler: the panel starts beat with -S and the schedule file.
    (project / f"{app}.py").write_text(
        "import os\nfrom celery import Celery\n"
        f"app = Celery({app!r}, broker='filesystem://')\n"
        "app.conf.update(broker_transport_options={'data_folder_in': os.environ['BROKER_DIR'],"
        " 'data_folder_out': os.environ['BROKER_DIR']}, task_ignore_result=True,"
        " broker_connection_retry_on_startup=True, timezone='UTC')\n\n"
        "@app.task\ndef noop():\n    return None\n")
    config = project / "beat-panel.toml"
    config.write_text(
        f'[beat]\napp = "{app}"\nworkdir = "."\n'
        f'command = [{json.dumps(str(venv / "bin" / "celery"))}]\n'
        'pidfile = "run/beat.pid"\nlogfile = "run/beat.log"\n'
        'args = ["--loglevel=INFO", "--schedule=run/celerybeat-schedule"]\n'
        f'[beat.env]\nBROKER_DIR = {json.dumps(str(broker))}\n'
        '[schedule]\nfile = "schedule.json"\n')
    procs.own_beats_of(app=app, pidfile=project / "run" / "beat.pid")
    added = installed_cli("--config", str(config), "schedule", "add", "tick", "--task",
                          f"{app}.noop", "--every", "1", cwd=project)
    assert added.returncode == 0, added.stderr
    started = installed_cli("--config", str(config), "start", "--json", cwd=project)
    result = json.loads(started.stdout)
    for pid in result.get("new_pids", []):
        procs.adopt(pid)
    log = project / "run" / "beat.log"
    assert result["success"], started.stdout + (log.read_text() if log.exists() else "")
    (pid,) = result["new_pids"]
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    (pythonpath,) = [v[len(b"PYTHONPATH="):].decode() for v in environ
                     if v.startswith(b"PYTHONPATH=")]
    link = Path(pythonpath.split(os.pathsep)[0]) / "beat_panel"
    assert link.resolve() == PREFIX / "_internal" / "beat_panel"
    assert f"--celery {venv / 'bin' / 'celery'}" in result["manual_start_command"]
    wait_until(lambda: any(broker.iterdir()), timeout=30, what="beat to send the task")
    assert "Sending due task tick" in log.read_text()
    status = json.loads(installed_cli("--config", str(config), "status", "--json",
                                      cwd=project).stdout)
    assert status["schedule_applied"] is True and status["pids"] == [pid]
    stopped = installed_cli("--config", str(config), "stop", "--json", cwd=project)
    assert json.loads(stopped.stdout)["success"], stopped.stdout


def test_purging_the_package_leaves_nothing_it_installed(installed: list[str]):
    apt("purge", "-y", "-q", "beat-panel")
    assert subprocess.run(["dpkg-query", "-W", "beat-panel"], capture_output=True,
                          check=False).returncode != 0
    left = [path for path in installed
            if os.path.lexists(path) and not Path(path).is_dir()]
    assert not left, left
    # Folders of its own are gone too (the byte code a project's beat wrote included);
    # shared ones (/usr/share/applications, …) stay.
    assert not PREFIX.exists()
    assert not Path("/usr/share/doc/beat-panel").exists()
    assert not INSTALLED.exists()


# The scheduler wheel on its own


def test_a_project_venv_with_only_celery_and_the_scheduler_wheel_runs_a_panel_schedule(
        scheduler_wheel: Path, scratch: Path, tmp_path: Path, procs: ProcessTracker):
    venv, _ = make_venv(scratch / "wheel-venv", scheduler_wheel)
    installed = {line.split("==")[0].lower() for line in run(
        [venv / "bin" / "python", "-m", "pip", "freeze"], env=clean_env()).stdout.split()}
    assert "beat_panel_scheduler" in installed or "beat-panel-scheduler" in installed
    assert not {n for n in installed if n.startswith(("pyside6", "shiboken6", "psutil"))}
    run_beat_on_a_panel_schedule(venv, tmp_path / "project", clean_env(), procs)
