"""The ways an alert leaves the panel: an e-mail through SMTP (Python's `smtplib`, with a
hard deadline) and a command of the person's choosing. Each returns an `Outcome` and
never raises: a mail server that is down or hangs must not break whoever sends.

The SMTP password is never in the config file: it comes from the environment variable
`smtp_password_env` names, else from the desktop keyring (the optional `keyring` package,
service `beat-panel:SMTP_HOST`, user `smtp_user`). It is never logged, and every message
is scrubbed of it."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import smtplib
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from beat_panel.alerts.incidents import Alert
from beat_panel.config import AlertsConfig
from beat_panel.errors import PanelError
from beat_panel.process.command_path import Program, require_trusted

log = logging.getLogger(__name__)

KEYRING_PREFIX = "beat-panel:"
MAX_OUTPUT_LOGGED = 4000  # characters of the command's output put in the panel log
ENV_PREFIX = "BEAT_PANEL_ALERT_"


@dataclass(frozen=True)
class Outcome:
    """How one channel did with one alert."""

    channel: str  # "email" or "command"
    target: str  # who or what: "ops@example.com via smtp.example.com:587 (starttls)"
    success: bool
    message: str  # for a person: "sent", or what went wrong and what to check

    def to_json(self) -> dict:
        return {"channel": self.channel, "target": self.target, "success": self.success,
                "message": self.message}

    def describe(self) -> str:
        what = "E-mail" if self.channel == "email" else "Command"
        return f"{what} {self.target}: {self.message}"


Channel = Callable[[Alert, AlertsConfig], Outcome]


def channels(config: AlertsConfig) -> list[Channel]:
    """The channels `config` sets up, e-mail first."""
    found: list[Channel] = []
    if config.email_to:
        found.append(send_email)
    if config.command:
        found.append(run_command)
    return found


# -- e-mail ------------------------------------------------------------------------------


def email_target(config: AlertsConfig) -> str:
    return (f"to {', '.join(config.email_to)} via {config.smtp_host}:{config.port} "
            f"({config.smtp_security})")


def _keyring_service(config: AlertsConfig) -> str:
    return f"{KEYRING_PREFIX}{config.smtp_host}"


def smtp_password(config: AlertsConfig,
                  environ: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """(password, None), or (None, why there is none and what to do)."""
    environ = os.environ if environ is None else environ
    user = config.smtp_user
    if config.smtp_password_env:
        value = environ.get(config.smtp_password_env)
        if not value:
            return None, (f"the environment variable {config.smtp_password_env} "
                          "(smtp_password_env) is not set for Beat Panel, so it has no "
                          f"password to log in as {user}. Set it where the panel is started "
                          "(a panel started from the menu or at login does not see a "
                          "terminal's variables), or use the desktop keyring.")
        return value, None
    service = _keyring_service(config)
    try:
        import keyring  # optional: only people who keep the password there need it
    except ImportError:
        return None, (f"smtp_user is {user} but there is no password: set smtp_password_env "
                      "to the name of an environment variable that holds it, or install "
                      f"the Python package keyring and run: keyring set {service} {user}")
    try:
        value = _within(config.timeout, keyring.get_password, service, user)
    except TimeoutError:
        return None, (f"the desktop keyring did not answer within {config.timeout:g} s "
                      "(is it locked?).")
    except Exception as exc:  # any keyring backend's own error
        return None, f"the desktop keyring could not be read: {exc}."
    if not value:
        return None, (f"the desktop keyring has no password for {user} under {service}. "
                      f"Run: keyring set {service} {user}")
    return value, None


def _within(seconds: float, fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args) in a daemon thread; TimeoutError when it has not returned in time (a
    keyring may wait for a person to unlock it: the alert does not)."""
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            box["value"] = fn(*args)
        except Exception as exc:
            box["error"] = exc

    thread = threading.Thread(target=call, name="alert-keyring", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError
    if "error" in box:
        raise box["error"]
    return box.get("value")


def build_message(alert: Alert, config: AlertsConfig) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = alert.subject
    message["From"] = config.email_from or f"beat-panel@{_local_hostname()}"
    message["To"] = ", ".join(config.email_to)
    message["Date"] = formatdate(alert.at, localtime=True)
    message["Message-ID"] = make_msgid("beat-panel", _local_hostname())
    message["X-Beat-Panel-Alert"] = f"{alert.kind}; {alert.state}"
    body = alert.body()
    # Plain 7-bit text reads as it is in any mail client's source view and in tests;
    # quoted-printable only when it must be.
    plain = body.isascii() and max(map(len, body.splitlines())) <= 900
    message.set_content(body, cte="7bit" if plain else "quoted-printable")
    return message


def _local_hostname() -> str:
    # Not socket.getfqdn(), which smtplib would call: it asks DNS, outside any deadline.
    return socket.gethostname() or "localhost"


def send_email(alert: Alert, config: AlertsConfig,
               environ: Mapping[str, str] | None = None) -> Outcome:
    """Send `alert` by e-mail. The answer comes within `config.timeout` seconds whatever
    the server does: the exchange runs in its own thread with that socket timeout on each
    step, and when the total runs out its connection is cut and the alert reported as not
    sent (a server that drips a byte at a time cannot hold the caller either)."""
    target = email_target(config)
    password = None
    if config.smtp_user is not None:
        password, problem = smtp_password(config, environ)
        if problem is not None:
            return Outcome("email", target, False, f"not sent: {problem}")
    try:
        message = build_message(alert, config)
    except (ValueError, TypeError) as exc:
        return Outcome("email", target, False, f"not sent: {exc}")
    clients: list[smtplib.SMTP] = []
    failure: list[Exception] = []

    def exchange() -> None:
        try:
            client = _connect(config)
            clients.append(client)
            try:
                _deliver(client, config, message, password)
            finally:
                with contextlib.suppress(Exception):
                    client.close()
        except Exception as exc:  # whatever the server or the network did: said, not raised
            failure.append(exc)

    thread = threading.Thread(target=exchange, name="alert-smtp", daemon=True)
    thread.start()
    thread.join(config.timeout)
    timed_out = thread.is_alive()
    if timed_out:
        for client in clients:
            sock = client.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the send or receive under way
        thread.join(1.0)
    if not timed_out and not failure:
        return Outcome("email", target, True, "sent")
    why = _smtp_problem(failure[0] if failure else TimeoutError(), config, timed_out)
    return Outcome("email", target, False, f"not sent: {_scrub(why, password)}")


def _connect(config: AlertsConfig) -> smtplib.SMTP:
    if config.smtp_security == "ssl":
        return smtplib.SMTP_SSL(config.smtp_host, config.port, _local_hostname(),
                                timeout=config.timeout, context=ssl.create_default_context())
    return smtplib.SMTP(config.smtp_host, config.port, _local_hostname(),
                        timeout=config.timeout)


def _deliver(client: smtplib.SMTP, config: AlertsConfig, message: EmailMessage,
             password: str | None) -> None:
    client.ehlo_or_helo_if_needed()
    if config.smtp_security == "starttls":
        if not client.has_extn("starttls"):
            raise _NoStartTLS
        client.starttls(context=ssl.create_default_context())
        client.ehlo()
    if config.smtp_user is not None:
        client.login(config.smtp_user, password or "")
    client.send_message(message)
    with contextlib.suppress(smtplib.SMTPException, OSError):
        client.quit()


class _NoStartTLS(Exception):
    pass


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
        else str(exc.smtp_error)
    return f"{exc.smtp_code} {' '.join(text.split())}"


def _smtp_problem(exc: Exception, config: AlertsConfig, timed_out: bool) -> str:
    """What went wrong, for a person: what happened and what to check."""
    server = f"{config.smtp_host}:{config.port}"
    # smtplib reports a timed-out read as "server disconnected"; the timeout is its cause.
    if timed_out or isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        return (f"the mail server {server} did not answer within {config.timeout:g} s "
                "(timeout). Check smtp_host, smtp_port and smtp_security.")
    if isinstance(exc, ConnectionRefusedError):
        return (f"nothing answers at {server} (connection refused). Check smtp_host and "
                "smtp_port, and that the mail server runs.")
    if isinstance(exc, socket.gaierror):
        return f"the mail server's name {config.smtp_host!r} cannot be found ({exc.strerror})."
    if isinstance(exc, _NoStartTLS):
        return (f"{server} does not offer STARTTLS. Use smtp_security = \"ssl\" (usually "
                "port 465) if it takes TLS from the start, or \"none\" only for a server "
                "on this machine.")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        source = (f"${config.smtp_password_env}" if config.smtp_password_env
                  else f"the keyring ({_keyring_service(config)})")
        return (f"{server} refused the login of {config.smtp_user}: {_reply(exc)}. Check "
                f"smtp_user and the password in {source}.")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = "; ".join(f"{who}: {code} {_text(why)}"
                            for who, (code, why) in exc.recipients.items())
        return f"{server} refused the recipients ({refused}). Check email_to."
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"{server} refused the sender {exc.sender}: {_reply(exc)}. Check email_from."
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{server} answered {_reply(exc)}."
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"{server} closed the connection ({exc or 'no reason given'})."
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"{server} does not support what was asked: {str(exc).rstrip('.')}."
    if isinstance(exc, ssl.SSLError):
        return (f"the TLS connection to {server} failed: {exc.reason or exc}. Check "
                "smtp_security and smtp_port (465 is for \"ssl\", 587 for \"starttls\").")
    if isinstance(exc, OSError):
        return f"the connection to {server} failed: {exc.strerror or exc}."
    return f"{type(exc).__name__}: {exc}"


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "********") if secret else text


# -- the command -------------------------------------------------------------------------


class AlertCommandError(PanelError):
    """The alert command cannot be found or may not be run."""


def command_target(config: AlertsConfig) -> str:
    return config.command[0] if config.command else ""


def alert_environment(alert: Alert) -> dict[str, str]:
    """The alert as environment variables (BEAT_PANEL_ALERT_KIND, _STATE, ...)."""
    data = alert.to_json()
    values = {name: data[name.lower()] for name in (
        "KIND", "STATE", "KEY", "TITLE", "SUBJECT", "TEXT", "PROJECT", "HOST", "QUEUE", "AT",
        "SINCE")}
    return {ENV_PREFIX + name: str(value).replace("\0", "\\0")
            for name, value in values.items() if value is not None}


def find_command(config: AlertsConfig, environ: Mapping[str, str]) -> Program:
    """The program `[alerts] command` runs: a path as given (made absolute from the
    config's folder at load), a bare name on the absolute folders of PATH; a file only the
    user and root can change."""
    word = config.command[0]
    key = "[alerts] command"
    if "/" in word:
        if not os.path.exists(word):
            raise AlertCommandError(f"the program {word} ({key}) does not exist.")
        program = Program(word, "as given")
    else:
        for folder in environ.get("PATH", os.defpath).split(os.pathsep):
            candidate = os.path.join(folder, word)
            if os.path.isabs(folder) and os.path.isfile(candidate) and \
                    os.access(candidate, os.X_OK):
                program = Program(candidate, "on PATH")
                break
        else:
            raise AlertCommandError(f"{word!r} ({key}) was not found on PATH; give its "
                                    "absolute path.")
    try:
        require_trusted(program, key)
    except PanelError as exc:
        raise AlertCommandError(str(exc)) from None
    return program


def run_command(alert: Alert, config: AlertsConfig,
                environ: Mapping[str, str] | None = None) -> Outcome:
    """Run `[alerts] command` for `alert`: no shell; the alert in BEAT_PANEL_ALERT_*
    variables and as one JSON object on standard input; in the config's folder; killed
    (with anything it started in its session) after `config.timeout` seconds. Its output
    goes to the panel log. The SMTP password's variable is not passed on."""
    environ = dict(os.environ if environ is None else environ)
    target = command_target(config)
    secret = environ.pop(config.smtp_password_env, None) if config.smtp_password_env \
        else None
    try:
        program = find_command(config, environ)
    except AlertCommandError as exc:
        return Outcome("command", target, False, f"not run: {exc}")
    argv = [program.path, *config.command[1:]]
    env = {**environ, **alert_environment(alert)}
    stdin = (json.dumps(alert.to_json()) + "\n").encode("utf-8")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, cwd=config.folder, env=env,
                                start_new_session=True, close_fds=True)
    except OSError as exc:
        return Outcome("command", target, False,
                       f"could not be started: {exc.strerror or exc}.")
    try:
        output, _ = proc.communicate(stdin, timeout=config.timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
        output = _end(proc)
    text = _scrub(output.decode("utf-8", "replace"), secret).rstrip()
    shown = text if len(text) <= MAX_OUTPUT_LOGGED else "…" + text[-MAX_OUTPUT_LOGGED:]
    code = proc.returncode
    log.info("Alert command %s (pid %d) for %r ended with %s; its output:%s", argv, proc.pid,
             alert.subject, "a timeout" if timed_out else f"status {code}",
             f"\n{shown}" if shown else " none")
    if timed_out:
        return Outcome("command", target, False,
                       f"did not finish within {config.timeout:g} s and was killed.")
    if code != 0:
        last = text.splitlines()[-1] if text else "no output"
        how = (f"was killed by {signal.Signals(-code).name}" if code < 0 and
               -code in signal.valid_signals() else f"exited with status {code}")
        return Outcome("command", target, False, f"{how} ({last[:300]}).")
    return Outcome("command", target, True, "ran (exit status 0)")


def _end(proc: subprocess.Popen) -> bytes:
    """Kill a command that ran out of time, and what it started in its session (by its
    process group: the pid we started); what it wrote so far."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        output, _ = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:  # something outside its session holds the pipe
        proc.kill()
        proc.wait()
        output = b""
        for stream in (proc.stdout, proc.stdin):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
    return output or b""
