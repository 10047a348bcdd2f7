"""Alerts beyond the desktop ([alerts]): a real SMTP server (aiosmtpd, started here on a
free loopback port) and a real command get each alert once per incident and once when it
clears; a real beat death seen by a real BeatMonitor, and keep-alive giving up, send them
from a job, never from the GUI thread; the open incidents survive a restart; a mail server
that is down, refuses or hangs is logged and recorded, never fatal; the SMTP password
comes from the environment (or the keyring) and is never shown anywhere."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_config_values import toml_value, values

from beat_panel import panel_log
from beat_panel.alerts import AlertBook, Alerter
from beat_panel.alerts.channels import run_command, send_email, smtp_password
from beat_panel.alerts.incidents import OPEN, RESOLVED, make_test_alert
from beat_panel.config import ALERT_EVENTS, AlertsConfig, ConfigError, config_from_text
from beat_panel.control import activity

from conftest import is_alive
from faces import keep_alive_gives_up

PASSWORD = "s3cret-Passw0rd-7f1c"
PASSWORD_ENV = "BEAT_PANEL_TEST_SMTP_PASSWORD"


# -- a real SMTP server --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """What an aiosmtpd server received, and how it should answer."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.logins: list[tuple[str, str]] = []
        self.reject_rcpt = False
        self.delay = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject_rcpt:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        self.raw.append(envelope.content)
        self.messages.append(email.message_from_bytes(envelope.content,
                                                      policy=email.policy.default))
        return "250 Message accepted"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        login = auth_data.login.decode()
        password = auth_data.password.decode()
        self.logins.append((login, password))
        # handled=False: the server answers 535 itself (True would leave it to us).
        return AuthResult(success=(login, password) == ("alice", PASSWORD), handled=False)

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]


class SmtpServer:
    def __init__(self, mailbox: Mailbox, port: int, controller: Controller) -> None:
        self.mailbox = mailbox
        self.port = port
        self.controller = controller


@contextlib.contextmanager
def smtp_server(auth: bool = False) -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    port = free_port()
    extra = {"authenticator": mailbox.authenticate, "auth_require_tls": False} if auth \
        else {}
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **extra)
    controller.start()
    try:
        yield SmtpServer(mailbox, port, controller)
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def smtp_auth() -> Iterator[SmtpServer]:
    with smtp_server(auth=True) as server:
        yield server


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback port that takes connections and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def alerts_config(tmp_path: Path, **keys: object) -> AlertsConfig:
    """An [alerts] section with `keys`, loaded the way the panel loads it."""
    text = "[beat]\napp = \"proj\"\n\n[alerts]\n" + "".join(
        f"{key} = {json.dumps(value)}\n" for key, value in keys.items())
    config = config_from_text(text, tmp_path / "beat-panel.toml")
    assert config.alerts is not None
    return config.alerts


def email_keys(server: SmtpServer | int, **more: object) -> dict[str, object]:
    port = server if isinstance(server, int) else server.port
    return {"email_to": ["ops@example.com"], "email_from": "panel@example.com",
            "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none", **more}


def add_alerts(project, **keys: object) -> None:
    """Append an [alerts] section to a test project's beat-panel.toml."""
    with project.config_path.open("a") as fh:
        fh.write("\n[alerts]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items()))


# -- config ------------------------------------------------------------------------------


def test_an_alerts_section_is_read_with_its_defaults(tmp_path):
    alerts = alerts_config(tmp_path, email_to=["ops@example.com", "me@example.org"],
                           command=["bin/notify", "--loud"])
    assert alerts.email_to == ("ops@example.com", "me@example.org")
    assert (alerts.smtp_host, alerts.smtp_security, alerts.port) == \
        ("localhost", "starttls", 587)
    assert alerts.command == (str(tmp_path / "bin" / "notify"), "--loud")
    assert alerts.events == frozenset(ALERT_EVENTS) and alerts.timeout == 20
    assert alerts_config(tmp_path, email_to=["a@b"], smtp_security="ssl").port == 465
    assert alerts_config(tmp_path, email_to=["a@b"], events=["beat_died"]).events == \
        {"beat_died"}
    plain = config_from_text("[beat]\napp = \"proj\"\n", tmp_path / "beat-panel.toml")
    assert plain.alerts is None


def test_a_password_in_the_config_file_is_refused_saying_what_to_use_instead(tmp_path):
    with pytest.raises(ConfigError) as caught:
        alerts_config(tmp_path, email_to=["a@example.com"], smtp_user="alice",
                      smtp_password="hunter2")
    message = str(caught.value)
    assert "smtp_password" in message and "smtp_password_env" in message
    assert "keyring set beat-panel:" in message
    assert "hunter2" not in message


@pytest.mark.parametrize(("keys", "named", "says"), [
    ({"email_to": ["a@b"], "smtp_port": 0}, "smtp_port", "a whole number from 1 to 65535"),
    ({"email_to": ["a@b"], "smtp_port": 70000}, "smtp_port", "1 to 65535"),
    ({"email_to": ["a@b"], "smtp_port": "25"}, "smtp_port", "whole number"),
    ({"email_to": ["a@b"], "smtp_port": True}, "smtp_port", "whole number"),
    ({"email_to": ["a@b"], "smtp_security": "tls"}, "smtp_security", '"starttls"'),
    ({"email_to": "ops@example.com"}, "email_to", "a list of e-mail addresses"),
    ({"email_to": ["ops"]}, "email_to", "a list of e-mail addresses"),
    ({"email_to": []}, "email_to", "a list of e-mail addresses"),
    ({"email_to": ["a@b\nBcc: c@d"]}, "email_to", "a list of e-mail addresses"),
    ({"email_to": ["a@b, c@d"]}, "email_to", "a list of e-mail addresses"),
    ({"email_to": ["a@b"], "email_from": "x@y\r\nBcc: c@d"}, "email_from", "an e-mail"),
    ({"email_to": ["a@b"], "smtp_user": "al\0ice"}, "smtp_user", "NUL"),
    ({"email_to": ["a@b"], "smtp_host": "mail host"}, "smtp_host", "a host name"),
    ({"email_to": ["a@b"], "smtp_user": "alice", "smtp_password_env": "A=B"},
     "smtp_password_env", "no '='"),
    ({"email_to": ["a@b"], "smtp_password_env": "PW"}, "smtp_password_env", "smtp_user"),
    ({"email_to": ["a@b"], "smtp_user": "alice", "smtp_security": "none",
      "smtp_host": "mail.example.com"}, "smtp_security", "unencrypted"),
    ({"email_to": ["a@b"], "events": ["beat_dead"]}, "events", "beat_died"),
    ({"email_to": ["a@b"], "events": []}, "events", "one or more"),
    ({"email_to": ["a@b"], "timeout": 0}, "timeout", "from 1 to 300"),
    ({"email_to": ["a@b"], "timeout": 1e9}, "timeout", "from 1 to 300"),
    ({"email_to": ["a@b"], "timeout": float("nan")}, "timeout", "from 1 to 300"),
    ({"email_to": ["a@b"], "smtp_pasword_env": "PW"}, "smtp_pasword_env", "unknown key"),
    ({"smtp_host": "mail.example.com"}, "smtp_host", "not email_to"),
    ({"command": []}, "command", "nowhere to send"),
    ({"command": [""]}, "command", "names the program"),
    ({"command": ["notify", "a\0b"]}, "command", "NUL"),
    ({}, "email_to", "nowhere to send"),
])
def test_a_bad_alerts_value_is_a_config_error_naming_the_key(tmp_path, keys, named, says):
    text = "[beat]\napp = \"proj\"\n\n[alerts]\n" + "".join(
        f"{key} = {toml_value(value)}\n" for key, value in keys.items())
    with pytest.raises(ConfigError) as caught:
        config_from_text(text, tmp_path / "beat-panel.toml")
    message = str(caught.value)
    assert "[alerts]" in message and named in message and says in message, message


ALERT_KEYS = ("email_to", "email_from", "smtp_host", "smtp_port", "smtp_security",
              "smtp_user", "smtp_password_env", "command", "events", "timeout")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(ALERT_KEYS), value=values)
@example(key="email_to", value=["a@b\0"])
@example(key="smtp_port", value=10 ** 400)
@example(key="timeout", value=float("inf"))
def test_any_value_of_an_alerts_key_is_a_config_or_an_error_naming_it(key, value):
    # Beside a command (or, for email_to itself, alone): each key is judged on its own.
    base = "" if key in ("email_to", "command") else "email_to = [\"ops@example.com\"]\n"
    extra = "smtp_user = \"alice\"\n" if key == "smtp_password_env" else ""
    path = Path("/tmp/beat-panel-values/beat-panel.toml")
    text = f"[beat]\napp = \"proj\"\n\n[alerts]\n{base}{extra}{key} = {toml_value(value)}\n"
    try:
        config = config_from_text(text, path)
    except ConfigError as exc:
        assert key in str(exc) or (key in ("email_to", "command") and
                                   "nowhere to send" in str(exc)), (key, str(exc))
        return
    alerts = config.alerts
    assert alerts is not None and (alerts.email_to or alerts.command)
    assert 1 <= alerts.port <= 65535 and 1 <= alerts.timeout <= 300
    words = [*alerts.email_to, alerts.email_from or "", alerts.smtp_host,
             alerts.smtp_user or "", alerts.smtp_password_env or "", *alerts.command]
    assert not any("\0" in w or "\n" in w for w in words[:3])
    assert not any("\0" in w for w in words)


# -- incidents -----------------------------------------------------------------------------


def book_at(tmp_path: Path, **kwargs: object) -> AlertBook:
    return AlertBook(tmp_path / "state" / "alerts.json", "proj in /srv/proj", **kwargs)


def test_a_broker_outage_alerts_once_and_once_more_when_it_clears(tmp_path):
    book = book_at(tmp_path)
    (opened,) = book.observe_health(False, "Error 111 connecting to localhost:6379", None)
    assert (opened.kind, opened.state) == ("broker_unreachable", OPEN)
    assert "Error 111 connecting to localhost:6379" in opened.text
    assert opened.subject.startswith("[Beat Panel] The broker cannot be reached: proj in")
    for _ in range(5):
        assert book.observe_health(False, "still down", None) == []
    (resolved,) = book.observe_health(True, None, set())
    assert (resolved.kind, resolved.state) == ("broker_unreachable", RESOLVED)
    assert resolved.subject.startswith("[Beat Panel] Resolved: The broker cannot be reached")
    assert "The broker can be reached again" in resolved.body()
    assert "Error 111" in resolved.body() and "lasted" in resolved.body()
    assert book.observe_health(True, None, set()) == []
    (again,) = book.observe_health(False, "down again", None)
    assert again.state == OPEN, "a new outage is a new incident"


def test_each_queue_without_a_worker_is_its_own_incident(tmp_path):
    book = book_at(tmp_path)
    opened = book.observe_health(True, None, {"celery", "reports"})
    assert sorted((a.kind, a.queue, a.state) for a in opened) == [
        ("no_worker_for_queue", "celery", OPEN), ("no_worker_for_queue", "reports", OPEN)]
    assert "No worker consumes the queue 'reports'" in opened[1].subject
    assert book.observe_health(True, None, {"celery", "reports"}) == []
    # The broker goes away: nothing is known of the workers, so the queues stay open.
    (broker,) = book.observe_health(False, "refused", {"celery"})
    assert broker.kind == "broker_unreachable"
    assert set(book.open_incidents()) == {"broker_unreachable", "no_worker_for_queue:celery",
                                          "no_worker_for_queue:reports"}
    changes = book.observe_health(True, None, {"reports"})
    assert sorted((a.kind, a.queue, a.state) for a in changes) == [
        ("broker_unreachable", None, RESOLVED), ("no_worker_for_queue", "celery", RESOLVED)]
    assert "A worker consumes the queue 'celery' again" in changes[1].body()
    # Workers not known (None): the queue incidents are left as they are.
    assert book.observe_health(True, None, None) == []
    (last,) = book.observe_health(True, None, set())
    assert (last.queue, last.state) == ("reports", RESOLVED)


def test_open_incidents_survive_a_restart_of_the_book(tmp_path):
    first = book_at(tmp_path)
    assert len(first.observe_health(False, "refused", None)) == 1
    assert len(first.beat_died("Beat stopped: pid 12 was killed by SIGKILL.")) == 1
    since = first.open_incidents()["beat_died"].since
    state = json.loads((tmp_path / "state" / "alerts.json").read_text())
    assert set(state["open"]) == {"broker_unreachable", "beat_died"}
    assert (tmp_path / "state" / "alerts.json").stat().st_mode & 0o077 == 0

    second = book_at(tmp_path)  # the panel started again
    assert second.observe_health(False, "refused", None) == []
    assert second.beat_died("Beat stopped again.") == []
    (resolved,) = second.beat_running("Beat is running (pid 99).")
    assert (resolved.kind, resolved.state, resolved.since) == ("beat_died", RESOLVED, since)
    assert "pid 12 was killed by SIGKILL" in resolved.text
    assert len(second.observe_health(True, None, set())) == 1
    assert book_at(tmp_path).open_incidents() == {}
    assert not list((tmp_path / "state").glob(".*.tmp")), "written atomically, no leftovers"


def test_a_damaged_incident_file_is_a_warning_and_a_fresh_start(tmp_path, caplog):
    path = tmp_path / "state" / "alerts.json"
    path.parent.mkdir()
    path.write_text("{ not json")
    book = book_at(tmp_path)
    with caplog.at_level(logging.WARNING, logger="beat_panel.alerts"):
        assert len(book.beat_died("gone")) == 1
    assert "Could not read the open alert incidents" in caplog.text
    assert set(json.loads(path.read_text())["open"]) == {"beat_died"}


def test_kinds_left_out_of_events_are_never_sent(tmp_path):
    book = book_at(tmp_path, events={"keepalive_gave_up"})
    assert book.beat_died("gone") == []
    assert book.observe_health(False, "refused", None) == []
    assert book.observe_health(True, None, {"celery"}) == []
    assert [a.kind for a in book.keepalive_gave_up("three restarts")] == ["keepalive_gave_up"]
    assert [(a.kind, a.state) for a in book.beat_running()] == [
        ("keepalive_gave_up", RESOLVED)]


# -- e-mail --------------------------------------------------------------------------------


def test_an_alert_is_e_mailed_with_a_subject_and_body_a_person_can_act_on(tmp_path, smtp):
    alerts = alerts_config(tmp_path, **email_keys(smtp))
    (alert,) = book_at(tmp_path).beat_died(
        "Beat stopped without anyone asking: pid 4242 was killed by SIGKILL. Periodic "
        "tasks are not being sent.")
    outcome = send_email(alert, alerts)
    assert outcome.success, outcome
    (mail,) = smtp.mailbox.messages
    assert mail["Subject"] == f"[Beat Panel] Beat stopped unexpectedly: proj in /srv/proj " \
                              f"on {socket.gethostname()}"
    assert (mail["From"], mail["To"]) == ("panel@example.com", "ops@example.com")
    assert mail["X-Beat-Panel-Alert"] == "beat_died; open"
    body = mail.get_content()
    assert "pid 4242 was killed by SIGKILL" in body and "Project:  proj in /srv/proj" in body
    assert "sends one more message when this clears" in body


def test_the_password_comes_from_the_environment_and_is_never_shown(
        tmp_path, smtp_auth, monkeypatch, caplog):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    alerts = alerts_config(tmp_path, **email_keys(smtp_auth, smtp_user="alice",
                                                   smtp_password_env=PASSWORD_ENV),
                           command=[sys.executable, "-c",
                                    "import os, sys; print(sorted(os.environ)); "
                                    "print(sys.stdin.read())"])
    with caplog.at_level(logging.DEBUG, logger="beat_panel"):
        outcome = send_email(make_test_alert("proj"), alerts)
        command = run_command(make_test_alert("proj"), alerts)
    assert outcome.success, outcome
    assert command.success, command
    assert smtp_auth.mailbox.logins == [("alice", PASSWORD)]
    assert PASSWORD_ENV not in caplog.text, "the command does not get the password's variable"
    seen = [caplog.text, json.dumps(outcome.to_json()), json.dumps(command.to_json()),
            *(raw.decode() for raw in smtp_auth.mailbox.raw)]
    assert not any(PASSWORD in text for text in seen)

    # A wrong password: refused, said, and still never shown.
    monkeypatch.setenv(PASSWORD_ENV, "wrong-" + PASSWORD)
    refused = send_email(make_test_alert("proj"), alerts)
    assert not refused.success
    assert "refused the login of alice: 535" in refused.message
    assert f"${PASSWORD_ENV}" in refused.message and PASSWORD not in refused.message

    monkeypatch.delenv(PASSWORD_ENV)
    unset = send_email(make_test_alert("proj"), alerts)
    assert not unset.success and f"{PASSWORD_ENV} (smtp_password_env) is not set" in \
        unset.message
    assert len(smtp_auth.mailbox.messages) == 1


def test_the_password_can_come_from_the_desktop_keyring(tmp_path, smtp_auth, monkeypatch):
    asked = []

    class FakeKeyring:  # stands in for the optional `keyring` package
        @staticmethod
        def get_password(service: str, user: str) -> str | None:
            asked.append((service, user))
            return PASSWORD if (service, user) == ("beat-panel:127.0.0.1", "alice") else None

    monkeypatch.setitem(sys.modules, "keyring", FakeKeyring)
    alerts = alerts_config(tmp_path, **email_keys(smtp_auth, smtp_user="alice"))
    assert smtp_password(alerts) == (PASSWORD, None)
    assert send_email(make_test_alert("proj"), alerts).success
    assert smtp_auth.mailbox.logins == [("alice", PASSWORD)]

    monkeypatch.setitem(sys.modules, "keyring", None)  # not installed
    password, problem = smtp_password(alerts)
    assert password is None and "install the Python package keyring" in problem
    assert "keyring set beat-panel:127.0.0.1 alice" in problem


@pytest.fixture
def tls_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A server certificate for localhost (made with openssl), trusted by this test's
    clients through SSL_CERT_FILE."""
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return context


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_an_alert_goes_over_tls_and_logs_in_only_there(tmp_path, tls_context, monkeypatch,
                                                       security):
    mailbox = Mailbox()
    port = free_port()
    # aiosmtpd counts only STARTTLS as TLS for AUTH; its implicit TLS is TLS all the same.
    tls = {"tls_context": tls_context, "require_starttls": True} if security == "starttls" \
        else {"ssl_context": tls_context, "auth_require_tls": False}
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, server_hostname="localhost",
                            authenticator=mailbox.authenticate, **tls)
    controller.start()
    try:
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        alerts = alerts_config(tmp_path, email_to=["ops@example.com"], smtp_host="localhost",
                               smtp_port=port, smtp_security=security, smtp_user="alice",
                               smtp_password_env=PASSWORD_ENV)
        outcome = send_email(make_test_alert("proj"), alerts)
        assert outcome.success, outcome
        assert mailbox.logins == [("alice", PASSWORD)] and len(mailbox.messages) == 1

        monkeypatch.delenv("SSL_CERT_FILE")  # the certificate is no longer trusted
        monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-certs"))
        untrusted = send_email(make_test_alert("proj"), alerts)
        assert not untrusted.success and "CERTIFICATE_VERIFY_FAILED" in untrusted.message
        assert len(mailbox.logins) == 1, "no password goes to a server that is not trusted"
    finally:
        controller.stop()


def test_a_mail_server_that_is_down_refuses_or_hangs_is_reported_never_raised(
        tmp_path, smtp, silent_server):
    alert = make_test_alert("proj")
    nothing = free_port()
    down = send_email(alert, alerts_config(tmp_path, **email_keys(nothing)))
    assert not down.success
    assert f"nothing answers at 127.0.0.1:{nothing} (connection refused)" in down.message

    smtp.mailbox.reject_rcpt = True
    refused = send_email(alert, alerts_config(tmp_path, **email_keys(smtp)))
    assert not refused.success
    assert "refused the recipients (ops@example.com: 550 5.1.1 No such mailbox here)" in \
        refused.message

    began = time.monotonic()
    hung = send_email(alert, alerts_config(tmp_path, **email_keys(silent_server), timeout=1))
    assert time.monotonic() - began < 5
    assert not hung.success and "did not answer within 1 s" in hung.message

    smtp.mailbox.reject_rcpt = False
    no_tls = send_email(alert, alerts_config(tmp_path, **{**email_keys(smtp),
                                                          "smtp_security": "starttls"}))
    assert not no_tls.success and "does not offer STARTTLS" in no_tls.message
    assert smtp.mailbox.messages == []


def test_a_failed_delivery_goes_to_the_panel_log_and_the_activity_log(tmp_path, fake_project):
    project = fake_project()
    nothing = free_port()
    add_alerts(project, **email_keys(nothing))
    config = project.load()
    log_file = panel_log.setup()
    try:
        alerter = Alerter(config)
        alerter.beat_died("Beat stopped: pid 7 was killed by SIGKILL.")
        (delivery,) = alerter.drain()
    finally:
        panel_log.close()
    assert not delivery.outcome.success
    assert log_file is not None and "could not be sent" in log_file.read_text()
    assert f"127.0.0.1:{nothing} (connection refused)" in log_file.read_text()
    (event,) = activity.read(config.project_id)
    assert (event.kind, event.success) == (activity.Kind.ALERT, False)
    assert event.message.startswith('Alert "Beat stopped unexpectedly" could not be sent')
    # The incident is open all the same: it is not sent again on the next death.
    alerter.beat_died("again")
    assert alerter.drain() == []


# -- the command ---------------------------------------------------------------------------

RECORDER = """\
#!{python}
import json, os, sys
got = {{"argv": sys.argv[1:], "stdin": json.loads(sys.stdin.read()), "cwd": os.getcwd(),
       "env": {{k: v for k, v in os.environ.items() if k.startswith("BEAT_PANEL_")}}}}
with open({out!r}, "a") as fh:
    fh.write(json.dumps(got) + "\\n")
print("recorded", got["env"]["BEAT_PANEL_ALERT_KIND"])
"""


def recorder(tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "received.jsonl"
    script = tmp_path / "bin" / "record-alert"
    script.parent.mkdir(exist_ok=True)
    script.write_text(RECORDER.format(python=sys.executable, out=str(out)))
    script.chmod(0o755)
    return script, out


def received(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() \
        else []


def test_the_command_gets_the_alert_as_variables_and_json_on_stdin(tmp_path, caplog,
                                                                   monkeypatch):
    _script, out = recorder(tmp_path)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    alerts = alerts_config(tmp_path, command=["bin/record-alert", "--to", "ops"],
                           **email_keys(free_port(), smtp_user="alice",
                                        smtp_password_env=PASSWORD_ENV))
    (alert,) = book_at(tmp_path).observe_health(True, None, {"reports"})
    with caplog.at_level(logging.INFO, logger="beat_panel.alerts"):
        outcome = run_command(alert, alerts)
    assert outcome.success, outcome
    (got,) = received(out)
    assert got["argv"] == ["--to", "ops"] and got["cwd"] == str(tmp_path)
    assert got["stdin"]["kind"] == "no_worker_for_queue" and got["stdin"]["queue"] == "reports"
    assert got["stdin"]["state"] == "open" and got["stdin"]["subject"] == alert.subject
    env = got["env"]
    assert env["BEAT_PANEL_ALERT_KIND"] == "no_worker_for_queue"
    assert env["BEAT_PANEL_ALERT_QUEUE"] == "reports"
    assert env["BEAT_PANEL_ALERT_STATE"] == "open"
    assert env["BEAT_PANEL_ALERT_TEXT"] == alert.text
    assert PASSWORD_ENV not in env, "the SMTP password's variable is not passed on"
    assert "recorded no_worker_for_queue" in caplog.text, "its output is in the panel log"


def test_a_failing_or_hanging_command_is_reported_and_ended(tmp_path):
    alert = make_test_alert("proj")
    failing = run_command(alert, alerts_config(
        tmp_path, command=[sys.executable, "-c", "print('no route to pager'); exit(3)"]))
    assert not failing.success
    assert failing.message == "exited with status 3 (no route to pager)."

    pidfile = tmp_path / "hung.pid"
    began = time.monotonic()
    hung = run_command(alert, alerts_config(tmp_path, timeout=1, command=[
        sys.executable, "-c",
        f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); "
        "time.sleep(600)"]))
    assert time.monotonic() - began < 8
    assert not hung.success and "did not finish within 1 s and was killed" in hung.message
    assert not is_alive(int(pidfile.read_text()))

    missing = run_command(alert, alerts_config(tmp_path, command=["no-such-notifier-xyz"]))
    assert not missing.success and "was not found on PATH" in missing.message


# -- the command line ----------------------------------------------------------------------


def test_alerts_test_sends_through_every_channel_and_reports_each(
        tmp_path, fake_project, smtp_auth, monkeypatch):
    project = fake_project()
    script, out = recorder(tmp_path)
    add_alerts(project, **email_keys(smtp_auth, smtp_user="alice",
                                     smtp_password_env=PASSWORD_ENV),
               command=[str(script)])
    env = dict(os.environ, **{PASSWORD_ENV: PASSWORD})
    result = project.cli("alerts", "test", "--json", env=env)
    assert result.code == 0, result
    data = result.json
    assert data["success"] is True
    assert [(c["channel"], c["success"]) for c in data["channels"]] == [
        ("email", True), ("command", True)]
    assert data["channels"][0]["target"] == \
        f"to ops@example.com via 127.0.0.1:{smtp_auth.port} (none)"
    (mail,) = smtp_auth.mailbox.messages
    assert mail["Subject"].startswith("[Beat Panel] Test alert: ")
    assert [g["stdin"]["state"] for g in received(out)] == ["test"]
    assert PASSWORD not in result.stdout + result.stderr

    text = project.cli("alerts", "test", env=env)
    assert text.code == 0
    assert text.stdout.splitlines()[0] == (f"E-mail to ops@example.com via "
                                           f"127.0.0.1:{smtp_auth.port} (none): sent")
    kinds = [e.kind for e in activity.read(project.load().project_id)]
    assert kinds == [activity.Kind.ALERT] * 4


def test_alerts_test_exits_1_naming_the_channel_that_failed(tmp_path, fake_project, smtp):
    project = fake_project()
    nothing = free_port()
    add_alerts(project, **email_keys(nothing), command=[sys.executable, "-c", "pass"])
    result = project.cli("alerts", "test", "--json")
    assert result.code == 1
    email_result, command_result = result.json["channels"]
    assert not email_result["success"] and command_result["success"]
    assert "connection refused" in email_result["message"]
    text = project.cli("alerts", "test")
    assert text.code == 1 and "not sent: nothing answers at" in text.stdout
    assert "failed through 1 of 2 channel(s)" in text.stdout


def test_alerts_test_without_an_alerts_section_is_bad_usage(fake_project):
    result = fake_project().cli("alerts", "test", "--json")
    assert result.code == 2 and result.json["success"] is False
    assert "No [alerts] section" in result.json["message"]


def test_a_password_in_the_file_stops_the_command_with_exit_2(fake_project):
    project = fake_project()
    add_alerts(project, email_to=["a@example.com"], smtp_user="alice",
               smtp_password="hunter2")
    result = project.cli("alerts", "test")
    assert result.code == 2 and "smtp_password_env" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


# -- the beat monitor ----------------------------------------------------------------------


class StallMeter:
    """The longest time the GUI thread went without running a 10 ms timer."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.last = time.monotonic()
        self.longest = 0.0
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.monotonic()
        self.longest = max(self.longest, now - self.last)
        self.last = now

    def stop(self) -> float:
        self.timer.stop()
        return self.longest


def test_a_real_beat_death_sends_one_e_mail_and_its_comeback_one_resolved(
        tmp_path, fake_project, make_panel, qtbot, smtp):
    from beat_panel.control.states import Action
    from beat_panel.ui.monitor import Origin

    project = fake_project()
    script, out = recorder(tmp_path)
    add_alerts(project, **email_keys(smtp), command=[str(script)])
    panel = make_panel(project)
    with qtbot.waitSignal(panel.monitor.action_finished, timeout=30000) as started:
        panel.monitor.run_action(Action.START, Origin.WINDOW)
    (pid,) = started.args[0].new_pids
    project.tracker.adopt(pid)
    qtbot.waitUntil(lambda: panel.monitor.running, timeout=15000)
    smtp.mailbox.delay = 2.0  # a slow mail server: the GUI must not wait for it
    meter = StallMeter()

    os.kill(pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: not panel.monitor.running, timeout=3000)
    assert not smtp.mailbox.messages, "the death is shown before the mail server answers"
    qtbot.waitUntil(lambda: len(smtp.mailbox.messages) == 1, timeout=15000)
    # SMTP on the GUI thread would stall it for the server's 2 s; a loaded machine may
    # stall it a little anyway, so the bound is well under that but not tight.
    assert meter.stop() < 1.5, "the GUI thread waited on SMTP"
    (mail,) = smtp.mailbox.messages
    assert mail["Subject"].startswith("[Beat Panel] Beat stopped unexpectedly: ")
    assert f"pid {pid} was killed by SIGKILL" in mail.get_content()
    qtbot.waitUntil(lambda: len(received(out)) == 1, timeout=5000)
    smtp.mailbox.delay = 0

    # Checks go on while beat stays dead: no second mail.
    for _ in range(3):
        panel.monitor.refresh()
        panel.runner.wait()
        qtbot.wait(50)
    assert len(smtp.mailbox.messages) == 1

    again = project.spawn_fake("-A", project.app, "beat")  # a person started it again
    panel.monitor.refresh()
    qtbot.waitUntil(lambda: len(smtp.mailbox.messages) == 2, timeout=15000)
    resolved = smtp.mailbox.messages[1]
    assert resolved["Subject"].startswith("[Beat Panel] Resolved: Beat stopped unexpectedly")
    assert "Beat is running again" in resolved.get_content()
    qtbot.waitUntil(lambda: len(received(out)) == 2, timeout=5000)
    assert [g["stdin"]["state"] for g in received(out)] == ["open", "resolved"]
    for _ in range(3):
        panel.monitor.refresh()
        panel.runner.wait()
        qtbot.wait(50)
    assert len(smtp.mailbox.messages) == 2
    kinds = [e.kind for e in activity.read(project.load().project_id)]
    assert kinds.count(activity.Kind.ALERT) == 4  # two alerts, two channels each
    again.kill()
    again.wait()


def test_a_panel_restarted_during_an_incident_does_not_send_it_again(
        fake_project, make_panel, qtbot, smtp):
    project = fake_project()
    add_alerts(project, **email_keys(smtp))
    beat = project.spawn_fake("-A", project.app, "beat")
    first = make_panel(project)
    qtbot.waitUntil(lambda: first.monitor.running, timeout=15000)
    beat.kill()
    beat.wait()
    qtbot.waitUntil(lambda: len(smtp.mailbox.messages) == 1, timeout=15000)
    first.shutdown()

    second = make_panel(project)  # beat is still dead
    second.runner.wait()
    assert len(smtp.mailbox.messages) == 1
    project.spawn_fake("-A", project.app, "beat")
    second.monitor.refresh()
    qtbot.waitUntil(lambda: len(smtp.mailbox.messages) == 2, timeout=15000)
    assert smtp.mailbox.subjects()[1].startswith("[Beat Panel] Resolved: Beat stopped")


def test_keep_alive_giving_up_sends_one_alert(fake_project, make_panel, qtbot, smtp):
    project = fake_project(mode="crash")  # every start the panel makes fails at once
    add_alerts(project, **email_keys(smtp))
    panel = keep_alive_gives_up(project, make_panel, qtbot)
    qtbot.waitUntil(lambda: len(smtp.mailbox.messages) == 2, timeout=15000)
    panel.runner.wait()
    qtbot.wait(200)
    subjects = smtp.mailbox.subjects()
    assert len(subjects) == 2, subjects
    assert subjects[0].startswith("[Beat Panel] Beat stopped unexpectedly")
    assert subjects[1].startswith("[Beat Panel] Keep-alive gave up restarting beat")
    assert "stopped restarting it" in smtp.mailbox.messages[1].get_content()


def test_health_conditions_reach_the_alerts_through_the_monitor(fake_project, make_panel,
                                                                qtbot, smtp):
    project = fake_project()
    add_alerts(project, **email_keys(smtp), events=["broker_unreachable",
                                                    "no_worker_for_queue"])
    panel = make_panel(project)
    for _ in range(3):
        panel.monitor.observe_health(False, "redis://:****@localhost:6379/0: refused", None)
    qtbot.waitUntil(lambda: len(smtp.mailbox.messages) == 1, timeout=15000)
    panel.monitor.observe_health(True, None, {"reports"})
    qtbot.waitUntil(lambda: len(smtp.mailbox.messages) == 3, timeout=15000)
    panel.runner.wait()
    assert smtp.mailbox.subjects()[0].startswith("[Beat Panel] The broker cannot be reached")
    assert sorted(s.split(":")[0] for s in smtp.mailbox.subjects()[1:]) == [
        "[Beat Panel] No worker consumes the queue 'reports'",
        "[Beat Panel] Resolved"]


def test_a_monitor_whose_mail_server_is_down_goes_on_checking(fake_project, make_panel,
                                                              qtbot, caplog):
    project = fake_project()
    add_alerts(project, **email_keys(free_port()))
    beat = project.spawn_fake("-A", project.app, "beat")
    panel = make_panel(project, refresh_seconds=1)
    qtbot.waitUntil(lambda: panel.monitor.running, timeout=15000)
    with caplog.at_level(logging.WARNING, logger="beat_panel.alerts"):
        beat.kill()
        beat.wait()
        qtbot.waitUntil(lambda: "could not be sent" in caplog.text, timeout=15000)
    project.spawn_fake("-A", project.app, "beat")
    qtbot.waitUntil(lambda: panel.monitor.running, timeout=15000)
    events = activity.read(project.load().project_id)
    alerts = [e for e in events if e.kind is activity.Kind.ALERT]
    assert alerts and not any(e.success for e in alerts)


def test_the_readme_example_of_an_alerts_section_loads(tmp_path):
    from conftest import REPO

    readme = (REPO / "README.md").read_text()
    section = readme.split("## Alerts\n", 1)[1]
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    config = config_from_text("[beat]\napp = \"proj\"\n\n" + block, tmp_path / "x.toml")
    assert config.alerts is not None
    assert config.alerts.email_to == ("ops@example.com",)
    assert config.alerts.smtp_password_env == "BEAT_SMTP_PASSWORD"
    assert config.alerts.events == frozenset(ALERT_EVENTS)
