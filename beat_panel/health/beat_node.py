"""Whether a running beat answers remote-control pings, and on which node name, read
from its command line (`celery beat --enable-remote-control [-n NAME]`, Celery 5.7+)."""

from __future__ import annotations

from dataclasses import dataclass

from beat_panel.process import BeatProcess
from beat_panel.process import argv as argv_parser

_ON = "--enable-remote-control"
_OFF = "--no-enable-remote-control"
_HOSTNAME = ("-n", "--hostname")


@dataclass(frozen=True)
class RemoteControl:
    """`mode`: "on" or "off" when the command line says, "app" when the app's
    `beat_enable_remote_control` setting decides. `hostname`: its -n value, if any (the
    probe turns it into the node name as Celery does)."""

    mode: str
    hostname: str | None = None

    def to_probe(self) -> dict:
        return {"beat_remote": self.mode, "beat_hostname": self.hostname}


def remote_control(beat: BeatProcess) -> RemoteControl | None:
    """How `beat` was told about remote control; None for a beat inside a worker (-B),
    which never answers on its own, or a command line that cannot be read."""
    if beat.embedded:
        return None
    command = argv_parser.parse(list(beat.argv))
    if command is None:
        return None
    args = list(command.subcommand_args)
    mode, hostname = "app", None
    i = 0
    while i < len(args):
        token = args[i]
        if token == _ON:
            mode = "on"
        elif token == _OFF:
            mode = "off"
        elif token in _HOSTNAME:
            hostname = args[i + 1] if i + 1 < len(args) else None
            i += 1
        elif token.startswith("--hostname="):
            hostname = token.split("=", 1)[1]
        elif token.startswith("-n") and not token.startswith("--") and len(token) > 2:
            hostname = token[2:].lstrip("=")
        i += 1
    return RemoteControl(mode, hostname or None)
