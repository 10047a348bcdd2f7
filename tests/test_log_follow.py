"""Beat's log pane follows the file: a log cut short and written again past where the pane
had read, between two looks, is shown again from its new start (never from the middle);
a log replaced by rotation too; a FIFO at the log's path never hangs a look; never half a
line; each line's level, tracebacks with the record they belong to."""

import os
import subprocess
import sys
import textwrap
import threading

from beat_panel.control import logtail
from beat_panel.ui.jobs import JobRunner
from beat_panel.ui.window.log_view import RESTARTED_NOTE, LogView

# Writes lines into the log the way beat's logging does (a file opened for appending),
# on command: "old 40" writes "old 0".."old 39"; every command is answered "done".
WRITER = textwrap.dedent("""
    import sys
    log = open(sys.argv[1], "a", buffering=1)
    for command in sys.stdin:
        word, count = command.split()
        for i in range(int(count)):
            log.write(f"{word} {i}: [INFO/MainProcess] Scheduler: Sending due task\\n")
        print("done", flush=True)
""")


class Writer:
    def __init__(self, procs, path):
        self.proc = procs.popen([sys.executable, "-c", WRITER, str(path)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def write(self, word: str, count: int) -> None:
        self.proc.stdin.write(f"{word} {count}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline() == "done\n"

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


def shown_lines(view: LogView) -> list[str]:
    return [line.split(":")[0] for line in view.text.toPlainText().splitlines()]


def look(view: LogView, qtbot) -> None:
    view.poll()
    qtbot.waitUntil(lambda: not view.reading, timeout=10000)


def test_a_log_cut_short_and_grown_again_between_two_looks_shows_its_new_start(
        fake_project, procs, qtbot):
    project = fake_project()
    log = project.logfile
    log.parent.mkdir(parents=True, exist_ok=True)
    writer = Writer(procs, log)
    runner = JobRunner()
    view = LogView(project.load(), runner)
    qtbot.addWidget(view)
    try:
        writer.write("old", 30)
        look(view, qtbot)
        assert shown_lines(view)[-1] == "old 29"

        # logrotate's copytruncate: the file is cut to nothing, and beat (still appending)
        # writes more than the pane had read before its next look.
        os.truncate(log, 0)
        writer.write("new", 60)
        assert log.stat().st_size > view.position.offset
        look(view, qtbot)
        shown = view.text.toPlainText().splitlines()
        note = shown.index(RESTARTED_NOTE)
        assert shown_lines(view)[:note] == [f"old {i}" for i in range(30)]
        assert shown_lines(view)[note + 1:] == [f"new {i}" for i in range(60)]

        # It follows on from there as before.
        writer.write("more", 2)
        look(view, qtbot)
        assert shown_lines(view)[-3:] == ["new 59", "more 0", "more 1"]
    finally:
        writer.close()
        runner.wait()


def test_follow_notices_a_cut_regrown_or_replaced_file_and_reads_it_from_its_start(tmp_path):
    log = tmp_path / "beat.log"
    log.write_bytes(b"".join(b"first %d\n" % i for i in range(100)))
    text, seen, restarted = logtail.follow(log, None, first_lines=3)
    assert text == "first 97\nfirst 98\nfirst 99" and not restarted

    with open(log, "ab") as fh:
        fh.write(b"appended\n")
    text, seen, restarted = logtail.follow(log, seen)
    assert (text, restarted) == ("appended\n", False)

    # Cut short and grown again to exactly the same size: only the bytes tell.
    size = log.stat().st_size
    body = b"".join(b"other %d\n" % i for i in range(200))[:size]
    with open(log, "r+b") as fh:
        fh.truncate(0)
        fh.write(body)
    assert log.stat().st_size == size
    text, seen, restarted = logtail.follow(log, seen)
    # Its last line, cut in the middle and just written, waits for its end.
    assert restarted and text == body[:body.rfind(b"\n") + 1].decode()

    # Rotated: renamed away, and a new file (bigger than what was read) in its place.
    log.rename(tmp_path / "beat.log.1")
    log.write_bytes(b"rotated 0\n" + b"x" * (seen.offset + 100) + b"\n")
    text, seen, restarted = logtail.follow(log, seen)
    assert restarted and text.startswith("rotated 0\n")

    # Gone for a while: nothing, and the place it had read is kept.
    log.unlink()
    assert logtail.follow(log, seen) == ("", seen, False)


def test_a_fifo_at_the_logs_path_never_hangs_a_look(tmp_path):
    fifo = tmp_path / "beat.log"
    os.mkfifo(fifo)
    results = []
    looks = threading.Thread(target=lambda: results.append(
        (logtail.follow(fifo, None), logtail.tail(fifo), logtail.read_new(fifo, 0))),
        daemon=True)
    looks.start()
    looks.join(timeout=30)  # a guard against a hang, not a measurement
    assert results == [(("", None, False), "", ("", 0))]


def test_a_link_at_the_logs_path_is_never_read_through(tmp_path):
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$secret-hash:19000:0:99999:7:::\n")
    log = tmp_path / "beat.log"
    log.symlink_to(secret)  # planted where a root panel reads beat's log
    assert logtail.follow(log, None) == ("", None, False)
    assert logtail.tail(log) == ""
    assert logtail.read_new(log, 0) == ("", 0)
    # The same file under its own name is read as usual.
    log.unlink()
    log.write_text("beat: Starting...\n")
    text, seen, restarted = logtail.follow(log, None)
    assert text == "beat: Starting..." and seen is not None and not restarted


def test_the_first_look_never_starts_with_half_a_line(tmp_path):
    log = tmp_path / "beat.log"
    # Lines longer than the first look's window share: it starts inside one of them.
    log.write_bytes(b"".join(b"line %04d " % i + b"x" * 1000 + b"\n" for i in range(100)))
    text, _, _ = logtail.follow(log, None)
    first = text.splitlines()[0]
    assert first.startswith("line ") and len(first) == len("line 0000 ") + 1000


def test_follow_never_gives_half_a_line(tmp_path):
    log = tmp_path / "beat.log"
    log.write_bytes(b"")
    _, seen, _ = logtail.follow(log, None)
    # More than one look reads, in lines of several bytes a character ("é" is two).
    lines = [("é" * 37 + f" {i}").encode() for i in range(6000)]
    with open(log, "ab") as fh:
        fh.write(b"\n".join(lines) + b"\n")
    got: list[str] = []
    while True:
        text, seen, restarted = logtail.follow(log, seen)
        assert not restarted
        if not text:
            break
        assert text.endswith("\n") and "\ufffd" not in text
        got += text.splitlines()
    assert got == [line.decode() for line in lines]

    # A line being written (no newline yet) waits for its end; an old one does not.
    with open(log, "ab") as fh:
        fh.write(b"done\n[2026-11-26 00:00:00,000: ERROR/MainProcess] half")
    text, seen, _ = logtail.follow(log, seen)
    assert text == "done\n"
    os.utime(log, (1, 1))  # written long ago: it ends there
    text, seen, _ = logtail.follow(log, seen)
    assert text == "[2026-11-26 00:00:00,000: ERROR/MainProcess] half"


def test_each_line_gets_its_level_and_a_traceback_the_level_of_its_record():
    lines = [
        "celery beat v5.4.0 (opalescent) is starting.",
        "LocalTime -> 2026-11-26 09:00:00",
        "    . broker -> redis://localhost:6379//",
        "[2026-11-26 09:00:00,001: INFO/MainProcess] beat: Starting...",
        "[2026-11-26 09:00:05,002: DEBUG/MainProcess] beat: Waking up in 5.00 seconds.",
        "[2026-11-26 09:00:10,003: WARNING/MainProcess] Scheduler: clock skew",
        "[2026-11-26 09:00:15,004: ERROR/MainProcess] Message Error: Couldn't apply task",
        "Traceback (most recent call last):",
        '  File "celery/beat.py", line 420, in apply_entry',
        "",
        "kombu.exceptions.OperationalError: [Errno 111] Connection refused",
        "[2026-11-26 09:00:20,005: INFO/MainProcess] Scheduler: Sending due task a (t)",
        "[2026-11-26 09:00:25,006: CRITICAL/MainProcess] beat raised exception",
        "/venv/celery/platforms.py:841: SecurityWarning: running as root",
        "  warnings.warn(SecurityWarning(ROOT_DISCOURAGED.format(",
        "Usage: celery [OPTIONS] COMMAND [ARGS]...",
        "Error: Invalid value for '-A' / '--app':",
        "ModuleNotFoundError: No module named 'shop'",
        "WARNING:root:a plain logging format",
    ]
    assert logtail.classify(lines) == [
        None, None, None, "info", "debug", "warning", "error", "error", "error", "error",
        "error", "info", "error", "warning", "warning", None, "error", "error", "warning"]
    # A look that starts inside a traceback carries the level of the look before.
    assert logtail.classify(['  File "x.py", line 1'], "error") == ["error"]
