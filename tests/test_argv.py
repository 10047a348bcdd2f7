"""What counts as beat, decided from argv alone: a table of real-world command lines."""

import pytest

from beat_panel.process.argv import Kind, parse, split_cmdline

BEATS = [
    ("celery -A proj beat", "proj"),
    ("/srv/venv/bin/celery -A proj beat -l info", "proj"),
    ("/srv/venv/bin/celery --app=proj.celery:app beat", "proj.celery:app"),
    ("/srv/venv/bin/celery --app proj beat --pidfile=/run/beat.pid", "proj"),
    ("celery -Aproj beat", "proj"),
    ("celery -b redis://localhost -A proj beat", "proj"),
    ("/usr/bin/python3 -m celery -A proj beat", "proj"),
    ("python3.11 -u -X dev -m celery -A proj beat", "proj"),
    ("/srv/venv/bin/python /srv/venv/bin/celery -A proj beat", "proj"),
    ("celery beat -A proj", "proj"),  # Celery 4 order
    ("[celery beat] -A proj beat --pidfile=/run/beat.pid", "proj"),
]

EMBEDDED = [
    "celery -A proj worker -B",
    "celery -A proj worker --beat -l info",
    "celery -A proj worker -l info -BE",
    "[celeryd: celery@host:MainProcess] -active- (-A proj worker -B)",
]

NOT_BEAT = [
    "tail -f celerybeat.log",
    "tail -f /var/log/celery/beat.log",
    "vim celery_beat.py",
    "python celery_beat.py",
    "/usr/bin/python3 /srv/app/celery_beat.py beat",
    "sh -c celery -A proj beat",
    "bash -c exec celery -A proj beat",
    "python3 -c import celery; celery beat",
    "celery -A proj inspect active",
    "celery -A proj status",
    "grep celery.*beat",
    "less /etc/systemd/system/celerybeat.service",
    "celery-beat-exporter --port 9000",
]


@pytest.mark.parametrize(("cmdline", "app"), BEATS)
def test_beat_command_lines_are_beat(cmdline, app):
    parsed = parse(cmdline.split())
    assert parsed is not None and parsed.kind is Kind.BEAT
    assert parsed.app == app


@pytest.mark.parametrize("cmdline", EMBEDDED)
def test_worker_with_dash_b_is_embedded_beat_of_its_app(cmdline):
    parsed = parse(cmdline.split())
    assert parsed is not None and parsed.kind is Kind.EMBEDDED
    assert parsed.app == "proj"


@pytest.mark.parametrize("cmdline", NOT_BEAT)
def test_processes_that_merely_mention_the_words_are_not_celery_at_all(cmdline):
    # None of them is a worker either: "not beat" alone would let a misparse through.
    assert parse(cmdline.split()) is None


def test_an_app_named_beat_on_a_worker_is_not_beat():
    parsed = parse(["celery", "-A", "beat", "worker", "-Q", "beat"])
    assert parsed is not None and parsed.kind is Kind.WORKER


def test_app_value_after_dash_a_is_not_mistaken_for_the_subcommand():
    parsed = parse(["celery", "-A", "worker", "beat"])
    assert parsed.kind is Kind.BEAT and parsed.app == "worker"


def test_pidfile_option_is_read_in_both_spellings():
    parsed = parse(["celery", "-A", "proj", "beat", "--pidfile", "/run/b.pid"])
    assert parsed.pidfile == "/run/b.pid"
    assert parse(["celery", "-A", "proj", "beat", "--pidfile=/run/c.pid"]).pidfile == "/run/c.pid"


def test_setproctitle_cmdline_is_one_nul_padded_string():
    raw = b"[celery beat] -A proj beat --pidfile x" + b"\0" * 40
    assert split_cmdline(raw) == ["[celery", "beat]", "-A", "proj", "beat", "--pidfile", "x"]


def test_plain_cmdline_splits_on_nul_and_keeps_spaces_inside_arguments():
    raw = b"/usr/bin/tail\0-f\0my celerybeat.log\0"
    assert split_cmdline(raw) == ["/usr/bin/tail", "-f", "my celerybeat.log"]


def test_bare_beat_title_is_the_child_of_an_embedded_worker():
    parsed = parse(["[celery", "beat]"])
    assert parsed is not None and parsed.kind is Kind.BEAT and parsed.app is None
