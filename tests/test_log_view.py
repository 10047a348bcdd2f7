"""The Log tab as a person uses it, on real log files the tests write: warnings and errors
stand out (in colour and in bold), long lines wrap, the filter box and "Errors only"
narrow it, it follows a log that is rotated or cut short, and it reads the file in a job,
never on the GUI thread. Beat started by the panel logs at INFO, so the tab shows
"Sending due task"."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QPalette, QTextFormat

from beat_panel import config as config_module
from beat_panel.control import logtail
from beat_panel.control.launch import configured_launch, manual_start_command
from beat_panel.ui.jobs import JobRunner
from beat_panel.ui.window import log_view
from beat_panel.ui.window.log_view import RESTARTED_NOTE, LogView

from conftest import wait_until

INFO = "[2026-11-26 09:00:{:02d},001: INFO/MainProcess] Scheduler: Sending due task {} (t)"
LINES = [
    "celery beat v5.4.0 (opalescent) is starting.",
    "[2026-11-26 09:00:00,001: INFO/MainProcess] beat: Starting...",
    INFO.format(5, "hello"),
    "[2026-11-26 09:00:10,003: WARNING/MainProcess] Scheduler: clock went back",
    "[2026-11-26 09:00:15,004: ERROR/MainProcess] Message Error: Couldn't apply task report",
    "Traceback (most recent call last):",
    '  File "celery/beat.py", line 420, in apply_entry',
    "kombu.exceptions.OperationalError: [Errno 111] Connection refused",
    INFO.format(20, "report"),
]


def write(path, *lines: str) -> None:
    """Append lines as beat's logging does."""
    with open(path, "a", encoding="utf-8") as log:
        log.write("".join(line + "\n" for line in lines))


def shown(view: LogView) -> list[str]:
    return view.text.toPlainText().splitlines()


def mark(view: LogView, block, line: int = 0) -> set[tuple[int, int]]:
    """Where the margin beside the `line`-th screen line of `block` is drawn in ink: not
    the margin's background, nor the line's own background."""
    text = view.text
    image = text.margin.grab().toImage()
    height = text.fontMetrics().height()
    top = int(text.blockBoundingGeometry(block).translated(text.contentOffset()).top())
    plain = {text.palette().color(QPalette.ColorRole.Base).name(),
             block.blockFormat().background().color().name()}
    return {(x, y) for y in range(2, height - 2) for x in range(image.width())
            if image.pixelColor(x, top + line * height + y).name() not in plain}


def block_of(view: LogView, start: str):
    block = view.text.document().begin()
    while block.isValid():
        if block.text().startswith(start):
            return block
        block = block.next()
    raise AssertionError(f"no line starting {start!r} is shown")


@pytest.fixture
def log_tab(fake_project, qtbot, monkeypatch):
    """`open_tab(*lines)`: the Log tab, shown and following, on a project whose log has
    those lines; its jobs waited for at the end."""
    monkeypatch.setattr(log_view, "POLL_MS", 100)
    runners = []

    def open_tab(*lines: str, width: int = 900) -> LogView:
        project = fake_project()
        project.logfile.parent.mkdir(parents=True, exist_ok=True)
        write(project.logfile, *lines)
        runner = JobRunner()
        runners.append(runner)
        view = LogView(project.load(), runner)
        qtbot.addWidget(view)
        view.resize(width, 500)
        view.show()
        qtbot.waitExposed(view)
        view.start()
        if lines:
            qtbot.waitUntil(lambda: shown(view)[-1:] == [lines[-1]], timeout=10000)
        view.logfile = project.logfile  # type: ignore[attr-defined]
        return view

    yield open_tab
    for runner in runners:
        runner.wait()


def test_warning_and_error_lines_stand_out_in_colour_and_in_bold(log_tab):
    view = log_tab(*LINES)
    info = block_of(view, INFO.format(5, "hello"))
    warning = block_of(view, "[2026-11-26 09:00:10,003: WARNING")
    error = block_of(view, "[2026-11-26 09:00:15,004: ERROR")
    traceback = [block_of(view, start) for start in ("Traceback", '  File "celery', "kombu")]

    def looks(block):
        char = block.begin().fragment().charFormat()
        return (char.fontWeight() == QFont.Weight.Bold, char.foreground().color().name(),
                block.blockFormat().background().color().name()
                if block.blockFormat().hasProperty(QTextFormat.Property.BackgroundBrush)
                else None)

    bold, _, background = looks(info)
    assert not bold and background is None
    assert looks(warning)[0] and looks(error)[0]  # bold: they stand out without colour
    assert looks(warning)[2] and looks(error)[2] and looks(warning)[2] != looks(error)[2]
    assert looks(warning)[1] != looks(error)[1]
    # The traceback belongs to the error: it looks like it.
    assert all(looks(block) == looks(error) for block in traceback)

    # A mark in the margin, a shape for each level: seen without colour too.
    assert not mark(view, info)
    assert mark(view, warning) and mark(view, error) and mark(view, warning) != mark(view, error)
    assert all(mark(view, block) == mark(view, error) for block in traceback)


def test_a_long_line_wraps_instead_of_running_off_the_side(log_tab, qtbot):
    long_line = INFO.format(30, "big") + " args=['" + "x" * 3000 + "']"
    view = log_tab(INFO.format(1, "short"), long_line, width=500)
    bar = view.text.horizontalScrollBar()
    assert bar.maximum() == 0
    block = block_of(view, long_line[:40])
    assert block.layout().lineCount() > 5
    # A bar in the margin beside its wrapped part says it is not a line of its own.
    qtbot.keyClick(view.text, Qt.Key.Key_Home, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: view.text.verticalScrollBar().value() == 0)
    assert not mark(view, block, 0) and mark(view, block, 1) and mark(view, block, 4)
    assert not mark(view, block_of(view, INFO.format(1, "short")), 0)
    assert shown(view)[-1] == long_line  # wrapped on screen, one line in the text


def test_the_filter_box_shows_only_the_lines_with_what_is_typed(log_tab, qtbot):
    view = log_tab(*LINES)
    view.filter.setFocus()
    qtbot.keyClicks(view.filter, "sending DUE")  # any case
    assert shown(view) == [INFO.format(5, "hello"), INFO.format(20, "report")]
    assert view.count.text() == "2 of 9 lines"

    # Lines that come later are filtered as they arrive.
    write(view.logfile, "[2026-11-26 09:00:25,001: INFO/MainProcess] beat: Waking up",
          INFO.format(30, "late"))
    qtbot.waitUntil(lambda: shown(view)[-1] == INFO.format(30, "late"), timeout=10000)
    assert len(shown(view)) == 3

    qtbot.keyClicks(view.filter, " nothing like this")
    assert shown(view) == [] and view.count.text() == "0 of 11 lines"
    assert view.text.placeholderText() == "No line of the log matches."

    # Emptied, it shows every line again.
    qtbot.keyClick(view.filter, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(view.filter, Qt.Key.Key_Backspace)
    assert len(shown(view)) == 11 and view.count.text() == ""


def test_errors_only_shows_the_errors_with_their_tracebacks(log_tab, qtbot):
    view = log_tab(*LINES)
    qtbot.mouseClick(view.errors_only, Qt.MouseButton.LeftButton)
    assert view.errors_only.isChecked()
    assert shown(view) == LINES[4:8]  # the ERROR line and its traceback
    assert view.count.text() == "4 of 9 lines"

    # A new error shows; the INFO and WARNING lines around it do not.
    write(view.logfile, INFO.format(40, "x"),
          "[2026-11-26 09:00:41,001: CRITICAL/MainProcess] beat raised exception",
          "[2026-11-26 09:00:42,001: WARNING/MainProcess] again")
    qtbot.waitUntil(lambda: len(shown(view)) == 5, timeout=10000)
    assert shown(view)[-1].endswith("beat raised exception")

    # With the filter too: errors that name "kombu".
    qtbot.keyClicks(view.filter, "kombu")
    assert shown(view) == [LINES[7]]

    qtbot.mouseClick(view.errors_only, Qt.MouseButton.LeftButton)
    assert not view.errors_only.isChecked()
    assert shown(view) == [LINES[7]]  # only the filter now
    qtbot.keyClick(view.filter, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(view.filter, Qt.Key.Key_Delete)
    assert len(shown(view)) == 12


def test_errors_only_from_the_keyboard(log_tab, qtbot):
    view = log_tab(*LINES)
    view.filter.setFocus()
    qtbot.keyClick(view.filter, Qt.Key.Key_Tab)
    assert view.errors_only.hasFocus()
    qtbot.keyClick(view.errors_only, Qt.Key.Key_Space)
    assert shown(view) == LINES[4:8]


def test_a_rotated_log_is_followed_into_the_new_file(log_tab, qtbot):
    view = log_tab(*LINES)
    log = view.logfile
    log.rename(log.with_name("beat.log.1"))  # logrotate's create mode: move, then a new file
    write(log, INFO.format(50, "after rotation"))
    qtbot.waitUntil(lambda: shown(view)[-1] == INFO.format(50, "after rotation"),
                    timeout=10000)
    assert shown(view) == [*LINES, RESTARTED_NOTE, INFO.format(50, "after rotation")]

    write(log, INFO.format(55, "and on"))  # and it keeps following the new file
    qtbot.waitUntil(lambda: shown(view)[-1] == INFO.format(55, "and on"), timeout=10000)
    assert shown(view).count(RESTARTED_NOTE) == 1


def test_a_log_cut_short_is_followed_from_its_new_start(log_tab, qtbot):
    view = log_tab(*LINES)
    log = view.logfile
    log.write_bytes(b"")  # copytruncate: the same file, cut to nothing
    qtbot.waitUntil(lambda: shown(view)[-1] == RESTARTED_NOTE, timeout=10000)
    write(log, INFO.format(56, "after truncation"))
    qtbot.waitUntil(lambda: shown(view)[-1] == INFO.format(56, "after truncation"),
                    timeout=10000)
    assert shown(view) == [*LINES, RESTARTED_NOTE, INFO.format(56, "after truncation")]


def test_the_log_is_read_in_a_job_never_on_the_gui_thread(log_tab, qtbot, monkeypatch):
    threads = []
    real = logtail.follow_lines

    def follow_lines(*args):
        threads.append(threading.current_thread())
        return real(*args)

    monkeypatch.setattr(logtail, "follow_lines", follow_lines)
    log_tab(*LINES)
    assert threads and threading.main_thread() not in threads


@pytest.mark.parametrize("args", [(), ("--schedule=run/celerybeat-schedule",)])
def test_beat_started_by_the_panel_logs_at_info(fake_project, args):
    """The config the project dialog writes names no level: celery beat alone would log at
    WARNING, and never say "Sending due task"."""
    project = fake_project()
    # Its environment and times too (the fake's), as when the same project is chosen again.
    keep = dataclasses.replace(project.load().beat, args=args)
    project.config_path.write_text(config_module.project_config_text(
        project.root, project.app, None, command=[str(project.celery)], keep=keep))
    config = project.load()
    argv = configured_launch(config).argv
    assert argv[argv.index("beat") + 2:] == ("--loglevel=INFO", *args)  # after --pidfile
    assert manual_start_command(config).endswith(" -- --loglevel=INFO " + " ".join(args)
                                                 if args else " -- --loglevel=INFO")

    # Started by the panel, beat is given INFO (the fake celery logs its command line).
    started = project.cli("start", "--json")
    assert started.code == 0, started.stdout + started.stderr
    wait_until(lambda: "--loglevel=INFO" in project.logfile.read_text(), what="the log")
    assert project.cli("stop", "--json").code == 0


@pytest.mark.parametrize("args", [("-l", "DEBUG"), ("-lDEBUG",), ("--loglevel", "ERROR"),
                                  ("--loglevel=warning",)])
def test_a_level_the_user_gave_is_kept(fake_project, args):
    project = fake_project(args=list(args))
    config = project.load()
    argv = configured_launch(config).argv
    assert argv[-len(args):] == args and "--loglevel=INFO" not in argv
    assert "--loglevel=INFO" not in manual_start_command(config)


def test_it_keeps_to_the_newest_line_unless_the_person_scrolled_up(log_tab, qtbot):
    view = log_tab(*[INFO.format(i % 60, f"t{i}") for i in range(150)])
    bar = view.text.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == bar.maximum()
    write(view.logfile, INFO.format(1, "newer"))
    qtbot.waitUntil(lambda: shown(view)[-1] == INFO.format(1, "newer"), timeout=10000)
    assert bar.value() == bar.maximum()

    view.text.setFocus()
    qtbot.keyClick(view.text, Qt.Key.Key_Home, Qt.KeyboardModifier.ControlModifier)
    assert bar.value() == 0
    write(view.logfile, INFO.format(2, "newest"))
    qtbot.waitUntil(lambda: shown(view)[-1] == INFO.format(2, "newest"), timeout=10000)
    assert bar.value() == 0  # still where the person is reading

    qtbot.keyClick(view.text, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    write(view.logfile, INFO.format(3, "latest"))
    qtbot.waitUntil(lambda: shown(view)[-1] == INFO.format(3, "latest"), timeout=10000)
    assert bar.value() == bar.maximum()


@pytest.mark.slow
def test_a_project_set_up_as_the_dialog_does_shows_sending_due_task(panel_project, qtbot,
                                                                     monkeypatch):
    """The real celery beat, on the config the project dialog writes (no --loglevel):
    the Log tab shows the tasks it sends."""
    from beat_panel.schedule import Document, Entry, Interval
    from beat_panel.schedule.store import ScheduleStore

    monkeypatch.setattr(log_view, "POLL_MS", 200)
    project = panel_project
    keep = dataclasses.replace(project.load().beat, args=())  # the demo's environment
    project.config_path.write_text(config_module.project_config_text(
        project.root, project.app, keep=keep))
    assert not project.load().beat.args
    ScheduleStore(project.root / "schedule.json").save(Document((
        Entry("tick", "beat_panel.demo.app.say_hello", Interval(2)),)), None)
    runner = JobRunner()
    view = LogView(project.load(), runner)
    qtbot.addWidget(view)
    view.show()
    view.start()
    try:
        started = project.cli("start", "--json")
        assert started.code == 0, started.stdout + started.stderr
        qtbot.waitUntil(lambda: any("Sending due task tick" in line for line in shown(view)),
                        timeout=30000)
        qtbot.keyClicks(view.filter, "due task tick")
        assert shown(view) and all("Sending due task tick" in line for line in shown(view))
    finally:
        view.stop()
        runner.wait()
        assert project.cli("stop", "--json").code == 0
