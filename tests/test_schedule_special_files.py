"""A device, a FIFO, a loop of links or a huge file where a schedule, a saved version, an
import or an export is: refused at once with exit 2 naming it, never a read without end
or a wait for a writer that never comes; a command that changes nothing writes nothing;
an export writes only the file asked for."""

from __future__ import annotations

import errno
import json
import os

import pytest

from beat_panel.files.regular import MAX_FILE_BYTES, read_regular
from beat_panel.schedule import Document, Entry, Interval, ScheduleError, access
from beat_panel.schedule.store import ScheduleStore, history_dir

from conftest import run_cli

# Each command must answer well within this: a FIFO would make it wait for ever, and
# /dev/zero would make it read until memory runs out.
QUICK = 30


@pytest.fixture
def project(tmp_path):
    config = tmp_path / "beat-panel.toml"
    config.write_text('[beat]\napp = "proj"\n[schedule]\nfile = "schedule.json"\n')
    path = tmp_path / "schedule.json"
    store = ScheduleStore(path)
    store.save(Document((Entry("a", "t.a", Interval(60)),)), None)
    return config, path


def cli(config, *args):
    return run_cli("--config", str(config), *args, timeout=QUICK)


def revisions(path):
    return sorted(i.revision for i in ScheduleStore(path).history())


@pytest.mark.parametrize("kind", ["device link", "fifo", "fifo link"])
@pytest.mark.parametrize("command", [
    ("schedule", "add", "q", "--task", "t", "--every", "5"),
    ("schedule", "list"),
    ("schedule", "enable", "a"),
])
def test_a_device_or_fifo_as_the_schedule_is_refused_with_exit_2(project, kind, command):
    config, path = project
    path.unlink()
    if kind == "device link":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        os.mkfifo(path.with_name("pipe"))
        path.symlink_to("pipe")
    done = cli(config, *command)
    assert done.code == 2, done.stderr
    assert ("it is a device, not a file" if kind == "device link"
            else "it is a named pipe (FIFO), not a file") in done.stderr


def test_a_device_named_in_the_config_is_refused_and_history_still_answers(tmp_path):
    config = tmp_path / "beat-panel.toml"
    config.write_text('[beat]\napp = "proj"\n[schedule]\nfile = "/dev/zero"\n')
    added = cli(config, "schedule", "add", "q", "--task", "t", "--every", "5")
    assert added.code == 2 and "/dev/zero: cannot read it: it is a device" in added.stderr
    listed = cli(config, "schedule", "list")
    assert listed.code == 2 and "it is a device" in listed.stderr
    history = cli(config, "schedule", "history", "--json")
    assert history.code == 0 and "it is a device" in history.json["damaged"]


def test_history_with_a_fifo_as_the_schedule_lists_the_saved_versions(project):
    config, path = project
    path.unlink()
    os.mkfifo(path)
    done = cli(config, "schedule", "history", "--json")
    assert done.code == 0, done.stderr
    assert "named pipe" in done.json["damaged"]
    assert [h["revision"] for h in done.json["history"]] == [1]


def test_a_fifo_or_device_link_in_the_history_folder_is_left_out_and_said(project):
    config, path = project
    ScheduleStore(path).save(Document((Entry("b", "t.b", Interval(60)),)), None, force=True)
    folder = history_dir(path)
    os.mkfifo(folder / "r000007-20260101T000000.000000Z.json")
    os.symlink("/dev/zero", folder / "r000008-20260101T000000.000000Z.json")
    done = cli(config, "schedule", "history", "--json")
    assert done.code == 0, done.stderr
    assert [h["revision"] for h in done.json["history"]] == [2, 1]
    assert sorted(s["why"] for s in done.json["skipped"]) == [
        "it is a named pipe (FIFO), not a file", "it is a symbolic link, not a file"]
    text = cli(config, "schedule", "history")
    assert "Left out (not saved versions)" in text.stdout
    for revision in ("7", "8"):
        restored = cli(config, "schedule", "restore", revision)
        assert restored.code == 2 and "no saved version has revision" in restored.stderr
    assert cli(config, "schedule", "restore", "1").code == 0


def test_a_saved_version_swapped_for_a_fifo_after_listing_is_refused_not_waited_on(tmp_path):
    path = tmp_path / "schedule.json"
    store = ScheduleStore(path)
    store.save(Document((Entry("a", "t", Interval(60)),)), None)
    (item,) = store.history()
    item.path.unlink()
    os.mkfifo(item.path)
    with pytest.raises(ScheduleError, match="saved version 1 cannot be read: it is a named"):
        store.restore(item)


@pytest.mark.parametrize("kind", ["device", "fifo", "folder"])
def test_import_file_from_a_device_fifo_or_folder_is_refused(project, tmp_path, kind):
    config, path = project
    source = {"device": "/dev/zero", "fifo": str(tmp_path / "pipe"),
              "folder": str(tmp_path)}[kind]
    if kind == "fifo":
        os.mkfifo(source)
    done = cli(config, "schedule", "import-file", source)
    assert done.code == 2, done.stderr
    assert "not a file" in done.stderr and source in done.stderr
    assert revisions(path) == [1]


@pytest.mark.parametrize("kind", ["fifo", "link to a fifo", "link to a file", "/dev/stdout"])
def test_export_over_anything_but_a_regular_file_is_refused_and_left_alone(project,
                                                                            tmp_path, kind):
    config, _ = project
    target = tmp_path / "out.json"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "link to a fifo":
        os.mkfifo(tmp_path / "pipe")
        target.symlink_to("pipe")
    elif kind == "link to a file":
        (tmp_path / "real.json").write_text("mine")
        target.symlink_to("real.json")
    else:
        target = "/dev/stdout"
    before = os.lstat(target)
    done = cli(config, "schedule", "export", str(target), "--force")
    assert done.code == 2, done.stderr
    assert f"{target} cannot be replaced" in done.stderr
    after = os.lstat(target)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    if kind == "link to a file":
        assert (tmp_path / "real.json").read_text() == "mine"


def test_an_export_writes_only_the_file_asked_for(project, tmp_path):
    config, _ = project
    out = tmp_path / "exports"
    out.mkdir()
    done = cli(config, "schedule", "export", str(out / "out.json"))
    assert done.code == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["out.json"]
    assert ScheduleStore(out / "out.json").load().document.names() == ["a"]
    again = cli(config, "schedule", "export", str(out / "out.json"), "--force")
    assert again.code == 0, again.stderr
    assert sorted(p.name for p in out.iterdir()) == ["out.json"]
    assert ScheduleStore(out / "out.json").load().document.revision == 2


def test_importing_a_file_whose_entries_are_there_already_writes_nothing(project, tmp_path):
    config, path = project
    other = tmp_path / "other.json"
    ScheduleStore(other).save(Document((Entry("a", "t.a", Interval(60)),)), None)
    before = path.read_bytes(), path.stat().st_mtime_ns
    for _ in range(3):
        done = cli(config, "schedule", "import-file", str(other), "--json")
        assert done.code == 0, done.stderr
        assert done.json["saved"] is False and done.json["written"] == []
        assert "Nothing changed, so nothing was saved." in done.json["message"]
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert revisions(path) == [1]


def test_a_file_over_the_limit_is_refused_without_being_read(project):
    config, path = project
    with open(path, "r+b") as fh:  # sparse: takes no room on disk
        fh.truncate(MAX_FILE_BYTES + 1)
    done = cli(config, "schedule", "list")
    assert done.code == 2 and f"larger than {MAX_FILE_BYTES} bytes" in done.stderr


def test_a_read_stops_at_the_limit_even_when_the_size_says_less(tmp_path):
    with pytest.raises(OSError) as caught:
        read_regular("/proc/self/maps", limit=10)  # st_size 0, yet it has more
    assert caught.value.errno == errno.EFBIG
    assert read_regular("/proc/self/maps", limit=MAX_FILE_BYTES)


def test_a_fifo_at_the_lock_path_fails_the_save_instead_of_hanging(tmp_path):
    path = tmp_path / "schedule.json"
    os.mkfifo(tmp_path / ".schedule.json.lock")
    with pytest.raises(ScheduleError, match=r"lock file .* is a named pipe"):
        ScheduleStore(path).save(Document(), None)
    assert not path.exists()


@pytest.mark.parametrize("kind", ["device", "fifo", "loop"])
def test_beat_cannot_read_a_device_fifo_or_loop_at_the_schedule_path(tmp_path, kind):
    path = tmp_path / "schedule.json"
    if kind == "device":
        path.symlink_to("/dev/zero")
        path = path.resolve()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("schedule.json")
    problem = access.read_problem(path, os.getuid())
    assert problem is not None
    assert {"device": "it is a device, not a file",
            "fifo": "it is a named pipe (FIFO), not a file",
            "loop": "it cannot be opened (Too many levels of symbolic links)"}[kind] \
        in problem.message
    assert f"rm {path}" in problem.message


def test_a_fifo_at_the_beat_state_path_does_not_hang_the_plugin(tmp_path):
    from celery import Celery

    from beat_panel.plugin import PanelScheduler
    from beat_panel.schedule import beat_report

    path = tmp_path / "schedule.json"
    ScheduleStore(path).save(Document((Entry("a", "t.a", Interval(60)),)), None)
    os.mkfifo(beat_report.report_path(path))
    app = Celery("hostile", broker="memory://", set_as_current=False)
    app.conf.beat_panel_schedule = str(path)
    scheduler = PanelScheduler(app, lazy=True)
    scheduler._load_runs()
    assert scheduler._runs == {}
    state = json.dumps({"runs": {"a": {"total_run_count": 3}}})
    beat_report.report_path(path).unlink()
    beat_report.report_path(path).write_text(state)
    scheduler._load_runs()
    assert scheduler._runs == {"a": {"total_run_count": 3}}


def test_beat_starts_on_a_loop_of_links_and_says_why_it_runs_nothing(tmp_path):
    from celery import Celery

    from beat_panel.plugin import PanelScheduler
    from beat_panel.schedule import beat_report

    path = tmp_path / "schedule.json"
    path.symlink_to("schedule.json")
    app = Celery("looped", broker="memory://", set_as_current=False)
    app.conf.beat_panel_schedule = str(path)
    scheduler = PanelScheduler(app, lazy=True)  # no RuntimeError from resolve()
    assert scheduler.path == path
    scheduler.setup_schedule()
    report = beat_report.read_beat_report(path)
    assert "Too many levels of symbolic links" in report.error
    assert scheduler.schedule == {}


def test_the_window_opens_on_a_fifo_schedule_and_says_so(project, tmp_path):
    config, path = project
    path.unlink()
    os.mkfifo(path)
    shot = tmp_path / "window.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = run_cli("--config", str(config), "gui", "--screenshot", str(shot), env=env,
                   timeout=QUICK)
    assert done.code == 0, done.stderr
    assert shot.stat().st_size > 0


@pytest.mark.parametrize("kind", ["device link", "fifo"])
def test_a_save_to_a_device_or_fifo_creates_nothing_beside_it(tmp_path, kind):
    folder = tmp_path / "project"
    folder.mkdir()
    path = folder / "schedule.json"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/null")
    with pytest.raises(ScheduleError, match="not a file"):
        ScheduleStore(path).save(Document((Entry("a", "t", Interval(60)),)), None)
    assert os.listdir(folder) == ["schedule.json"]


def test_a_loop_of_links_at_the_schedule_leaves_status_working_and_says_what_is_wrong(
        project):
    """`ln -s schedule.json schedule.json` while beat runs: status (and so stop and
    restart) still work and name the loop; reading the schedule exits 2 naming it."""
    config, path = project
    path.unlink()
    path.symlink_to(path.name)
    status = cli(config, "status", "--json")
    assert status.code == 0, status.stderr
    listed = cli(config, "schedule", "list")
    assert listed.code == 2
    assert "symbolic links" in listed.stderr and str(path) in listed.stderr
    assert "Traceback" not in listed.stderr + status.stderr
