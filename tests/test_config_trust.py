"""A config decides what Beat Panel runs, so only one that no one but the user and root
can change is used: another user's file, a world- or group-writable one, or one in a
folder others can write is refused (exit 2, the reason and the fix), and a
./beat-panel.toml in a folder that is not the user's is passed over with a note. The
files are real, owned by `nobody` with os.chown; a planted command must never run."""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from beat_panel import config as config_module
from beat_panel.config import ConfigError
from beat_panel.ui.config_error import ask_until_usable

from conftest import run_cli, world_readable_dir
from scripted_dialogs import ScriptedDialogs

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to give files to another user (chown)")

NOBODY = pwd.getpwnam("nobody")


def evil_config(folder: Path, marker: Path) -> Path:
    """A beat-panel.toml in `folder` whose command, if ever run, leaves `marker`."""
    evil = folder / "evil.sh"
    evil.write_text(f"#!/bin/sh\ntouch {marker}\nsleep 30\n")
    evil.chmod(0o755)
    path = folder / "beat-panel.toml"
    path.write_text(f'[beat]\napp = "evil"\ncommand = ["{evil}"]\n')
    return path


def give_to_nobody(*places: Path) -> None:
    for place in places:
        os.chown(place, NOBODY.pw_uid, NOBODY.pw_gid, follow_symlinks=False)


def user_config_of(project) -> Path:
    """Make `project`'s config the user's default (found after ./beat-panel.toml)."""
    target = Path(os.environ["XDG_CONFIG_HOME"]) / "beat-panel" / "beat-panel.toml"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(project.config_path, target)
    # Its relative paths would now resolve against the config folder: name them fully.
    text = target.read_text().replace('workdir = "."', f'workdir = "{project.root}"')
    text = text.replace('"run/', f'"{project.root}/run/')
    target.write_text(text)
    return target


# --- --config and $BEAT_PANEL_CONFIG: refused with the reason and the fix ---------------


def test_a_config_owned_by_another_user_is_refused_and_its_command_never_runs(tmp_path):
    marker = tmp_path / "ran"
    path = evil_config(tmp_path, marker)
    give_to_nobody(path)
    for action in ("start", "status", "restart"):
        result = run_cli("--config", str(path), action, "--json")
        assert result.code == 2, (action, result.stdout, result.stderr)
        assert json.loads(result.stdout)["success"] is False
    assert (f"Beat Panel will not use the config file {path}: it belongs to nobody (uid "
            f"{NOBODY.pw_uid}), not to root. Whoever can change it could make Beat Panel run "
            f"any command as root. Fix: if you trust it, take it over with `chown root "
            f"{path}`, or use a copy of your own.") in result.stderr
    # Through the environment variable too.
    env = dict(os.environ, BEAT_PANEL_CONFIG=str(path))
    assert run_cli("start", env=env).code == 2
    assert not marker.exists(), "the planted command ran"


@pytest.mark.parametrize(("mode", "fix"), [(0o666, "chmod o-w"), (0o602, "chmod o-w")])
def test_a_world_writable_config_is_refused(tmp_path, mode, fix):
    marker = tmp_path / "ran"
    path = evil_config(tmp_path, marker)
    path.chmod(mode)
    result = run_cli("--config", str(path), "start")
    assert result.code == 2
    assert f"it can be written by everyone (mode {mode:04o})" in result.stderr
    assert f"Fix: `{fix} {path}`." in result.stderr
    assert not marker.exists()


def test_a_config_writable_by_a_shared_group_is_refused_but_not_by_ones_own(tmp_path):
    path = evil_config(tmp_path, tmp_path / "ran")
    staff = grp.getgrnam("staff")
    os.chown(path, 0, staff.gr_gid)
    path.chmod(0o664)
    with pytest.raises(ConfigError) as caught:
        config_module.load_file(path)
    assert "it can be written by the group staff (mode 0664)" in str(caught.value)
    assert f"Fix: `chmod g-w {path}`." in str(caught.value)
    assert caught.value.path == path
    # root's personal group (root, no other member), as a umask of 002 leaves it: fine.
    os.chown(path, 0, 0)
    assert config_module.load_file(path).beat.app == "evil"


def test_a_config_in_a_folder_others_can_write_is_refused(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    path = evil_config(folder, tmp_path / "ran")
    folder.chmod(0o777)  # anyone could put their own file in its place
    result = run_cli("--config", str(path), "status")
    assert result.code == 2
    assert (f"the folder {folder} on the way to it can be written by everyone (mode 0777), "
            "so they could put another file in its place") in result.stderr
    assert f"Fix: `chmod o-w {folder}`" in result.stderr
    folder.chmod(0o1777)  # sticky, as /tmp: others cannot replace root's file
    assert run_cli("--config", str(path), "status").code == 0
    give_to_nobody(folder)  # a folder of another user's: they can swap what is in it
    result = run_cli("--config", str(path), "status")
    assert result.code == 2 and f"the folder {folder} on the way to it belongs to nobody" \
        in result.stderr


def test_a_link_to_a_config_is_checked_all_the_way(tmp_path):
    real = evil_config(tmp_path, tmp_path / "ran")
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    assert config_module.load_file(link).beat.app == "evil"
    give_to_nobody(link)  # the link itself is another user's
    with pytest.raises(ConfigError, match=f"the link {link} on the way to it belongs to"):
        config_module.load_file(link)
    os.chown(link, 0, 0, follow_symlinks=False)
    give_to_nobody(real)  # and now its target
    with pytest.raises(ConfigError, match="it belongs to nobody"):
        config_module.load_file(link)


def test_a_user_may_use_a_config_of_roots_or_of_their_own(tmp_path):
    probe = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                            sys.executable, "-c", "import beat_panel.cli"],
                           capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot import beat_panel here: {probe.stderr[-200:]!r}")
    base = world_readable_dir("beat-panel-trust-")
    try:
        path = base / "beat-panel.toml"
        path.write_text('[beat]\napp = "proj"\nstop_timeout = 3\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
        env.update(HOME=str(base), XDG_STATE_HOME=str(base / "state"))
        (base / "state").mkdir()
        give_to_nobody(base / "state")
        assert run_cli("--config", str(path), "status", env=env, user="nobody").code == 0
        give_to_nobody(path)  # nobody's own file, in root's folder
        result = run_cli("--config", str(path), "status", env=env, user="nobody")
        assert result.code == 0, result.stderr
        # ... which root will not use.
        assert run_cli("--config", str(path), "status", env=env).code == 2
    finally:
        shutil.rmtree(base, ignore_errors=True)


# --- ./beat-panel.toml: only from a folder that is the user's --------------------------


def test_a_config_in_a_current_folder_of_another_users_is_passed_over(
        tmp_path, monkeypatch, fake_project, procs):
    project = fake_project()
    user_config_of(project)
    planted = tmp_path / "theirs"
    planted.mkdir()
    marker = tmp_path / "ran"
    path = evil_config(planted, marker)
    give_to_nobody(planted, path, planted / "evil.sh")
    monkeypatch.chdir(planted)

    status = run_cli("status", "--json")
    assert status.code == 0, status.stderr
    note = (f"Skipped {path}: the folder {planted} belongs to nobody (uid {NOBODY.pw_uid}), "
            "not to root. A config there could make Beat Panel run any command as root. Run "
            "it from a folder of your own, or name a config you trust with --config.")
    assert f"beat-panel: {note}" in status.stderr
    assert status.json["config_notes"] == [note]
    # The next place in the lookup is used: the user's config, the fake project.
    assert status.json["pidfile"]["path"] == str(project.pidfile)

    started = run_cli("start", "--json")
    for pid in started.json["new_pids"]:
        procs.adopt(pid)
    assert started.code == 0, started.stdout
    assert not marker.exists(), "root ran the command of a config planted in the folder"


def test_a_config_in_a_current_folder_everyone_can_write_is_passed_over(
        tmp_path, monkeypatch):
    shared = tmp_path / "tmp-like"
    shared.mkdir()
    shared.chmod(0o1777)  # as /tmp: root's, but anyone may put a file there
    evil_config(shared, tmp_path / "ran")
    monkeypatch.chdir(shared)
    result = run_cli("status", "--json")
    assert result.code == 0
    assert f"the folder {shared} can be written by everyone (mode 1777)" in \
        result.json["config_notes"][0]
    assert result.json["pidfile"]["path"].startswith(os.environ["XDG_DATA_HOME"])  # the demo


def test_a_bad_config_in_ones_own_current_folder_is_an_error_not_passed_over(
        tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    path = evil_config(mine, tmp_path / "ran")
    path.chmod(0o666)
    monkeypatch.chdir(mine)
    result = run_cli("status")
    assert result.code == 2 and f"chmod o-w {path}" in result.stderr


def test_a_config_in_ones_own_current_folder_is_used_without_a_note(tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "beat-panel.toml").write_text('[beat]\napp = "proj"\npidfile = "run/p.pid"\n')
    monkeypatch.chdir(mine)
    result = run_cli("status", "--json")
    assert result.code == 0 and result.json["config_notes"] == []
    assert result.json["pidfile"]["path"] == str(mine / "run" / "p.pid")
    assert "Skipped" not in result.stderr


# --- The window for a config that cannot be used ---------------------------------------


class ChmodDialogs(ScriptedDialogs):
    """A person who reads the message, runs the fix it gives, and chooses Try again."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def launch(self, prompt):
        self.shown.append(prompt)
        self.path.chmod(0o644)
        return "retry"


def test_the_window_names_the_refused_file_and_its_fix(tmp_path, qapp):
    path = evil_config(tmp_path, tmp_path / "ran")
    path.chmod(0o666)
    with pytest.raises(ConfigError) as caught:
        config_module.load(str(path))
    dialogs = ChmodDialogs(path)
    config = ask_until_usable(caught.value, str(path), dialogs)
    (prompt,) = dialogs.shown
    assert "will not use the config file" in prompt.text and "chmod o-w" in prompt.text
    assert str(path) in prompt.informative
    assert config is not None and config.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
