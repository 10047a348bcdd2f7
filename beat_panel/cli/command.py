"""The `beat-panel` command: status, start, stop and restart on the shared core.

Exit codes: 0 success (for status: the check worked, running or not), 1 failed,
2 bad usage / config / input, 3 not running, 4 permission denied.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from beat_panel import __version__, demo
from beat_panel.cli import alerts, exit_codes, health, schedule
from beat_panel.config import Config, ConfigError
from beat_panel.config import load as load_config
from beat_panel.control import actions
from beat_panel.control.status import Status, check_status


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep its usage line
        self.print_usage(sys.stderr)
        self.exit(exit_codes.USAGE, f"{self.prog}: error: {message}\n")


REFRESH_RANGE = (1, 3600)  # the same bounds the window's setting takes


def _refresh_seconds(text: str) -> int:
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") \
            from None
    low, high = REFRESH_RANGE
    if not low <= seconds <= high:
        raise argparse.ArgumentTypeError(f"{seconds} is outside {low} to {high} seconds")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="beat-panel",
        description="A control panel for Celery Beat: is it alive, start, stop, restart.",
        epilog="With no config, Beat Panel acts on its built-in demo project.",
    )
    parser.add_argument("--config", metavar="PATH",
                        help="beat-panel.toml to use (default: $BEAT_PANEL_CONFIG, "
                             "./beat-panel.toml, then the user's config folder)")
    parser.add_argument("--version", action="version", version=f"beat-panel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def with_json(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--json", action="store_true", help="print one JSON object")
        return p

    gui = sub.add_parser("gui", help="open the control panel window (the default)")
    refresh_help = "check beat's status every SECONDS (default: the saved setting, or 30)"
    gui.add_argument("--refresh", type=_refresh_seconds, metavar="SECONDS", help=refresh_help)
    gui.add_argument("--screenshot", metavar="PATH", type=Path,
                     help="save a PNG of the window once its first status check landed, "
                          "then exit")
    tray = sub.add_parser("tray", help="run the system tray indicator")
    tray.add_argument("--wait-for-tray", type=float, default=60, metavar="SECONDS",
                      help="how long to wait for a system tray before opening the window "
                           "instead (default: 60)")
    tray.add_argument("--refresh", type=_refresh_seconds, metavar="SECONDS",
                      help=refresh_help)
    status = with_json(sub.add_parser("status", help="is beat running? (exit 0 either way)"))
    status.add_argument("--fast", action="store_true",
                        help="trust a valid pidfile instead of scanning every process "
                             "(faster, but does not look for duplicate beats)")
    start = with_json(sub.add_parser("start", help="start beat and confirm it stays up"))
    start.add_argument("--force", action="store_true",
                       help="start even though a beat is already running (a duplicate)")
    with_json(sub.add_parser("stop", help="stop beat: SIGTERM, then SIGKILL after stop_timeout"))
    with_json(sub.add_parser("restart", help="stop beat, then start it the same way"))
    with_json(sub.add_parser("stop-extra", help="two beats at once: stop all but the "
                                                 "project's own"))
    schedule.add_parser(sub, with_json)
    health.add_parsers(sub, with_json)
    alerts.add_parser(sub, with_json)
    return parser


def _emit(payload: dict, as_json: bool, text: str) -> None:
    if as_json:
        print(json.dumps(payload, indent=None, sort_keys=True))
    else:
        print(text)


class _Stdout:
    """The command's stdout: once whoever reads it has gone (`beat-panel ... | head`),
    the rest is written to /dev/null instead of raising BrokenPipeError, so no
    "Broken pipe" or traceback is printed and the command ends as it would have."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._reader_gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._reader_gone()

    def _reader_gone(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())  # what is still buffered goes there too
        finally:
            os.close(devnull)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def _status_text(result: Status, config: Config) -> str:
    lines = [result.message]
    lines += [f"Warning: {w}" for w in result.warnings]
    if config.is_demo:
        lines.append("(Project: the built-in demo. Point --config at your beat-panel.toml.)")
    return "\n".join(lines)


def _action_text(result: actions.ActionResult) -> str:
    lines = [result.message]
    if result.warning:
        lines.append(f"Warning: {result.warning}")
    if result.log_tail:
        lines += ["", "Last lines of the log:", result.log_tail]
    if result.instructions:
        lines += ["", result.instructions]
    return "\n".join(lines)


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("QT_QPA_PLATFORM"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `beat-panel` command; its exit code.

    When whoever reads the output stops early (`beat-panel schedule list --json | head`),
    the command ends quietly, with the exit code it has without the pipe: no "Broken
    pipe", no traceback."""
    stdout = sys.stdout
    sys.stdout = _Stdout(stdout)  # type: ignore[assignment]
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:
        # Ctrl-C, or SIGTERM (see `_interruptible`): every `finally` on the way out ran,
        # so the project's Python started for the app is ended, not left behind.
        signum = exc.args[0] if exc.args and isinstance(exc.args[0], int) else \
            signal.SIGINT
        print(f"beat-panel: stopped by {signal.Signals(signum).name}.", file=sys.stderr)
        return 128 + int(signum)
    finally:
        sys.stdout.flush()
        sys.stdout = stdout


def _interruptible() -> None:
    """A command line command ends on SIGTERM as on Ctrl-C: by unwinding, so helper
    processes it started (a probe, the app's introspection) are ended on the way out,
    not orphaned with the default action's instant death."""
    def ended(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, ended)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    as_json = bool(getattr(args, "json", False))
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        if as_json:
            print(json.dumps({"success": False, "error": str(exc), "message": str(exc)}))
        print(f"beat-panel: {exc}", file=sys.stderr)
        if (args.command or "gui") not in ("gui", "tray") or not _has_display() or \
                getattr(args, "screenshot", None):
            return exit_codes.USAGE
        # Launched from a menu or at login: say it in a window, not on stderr alone.
        from beat_panel.ui.app import show_config_error

        fixed = show_config_error(exc, args.config)
        if fixed is None:
            return exit_codes.USAGE
        config = fixed
    for note in config.notes:  # a ./beat-panel.toml passed over, and why
        print(f"beat-panel: {note}", file=sys.stderr)

    if config.is_demo and config.schedule_file is not None:
        demo.ensure_schedule(config.schedule_file)
    command = args.command or "gui"
    if command in ("gui", "tray") and not _has_display():
        print("beat-panel: no display to open a window on (DISPLAY and WAYLAND_DISPLAY are "
              "not set). Run it in a desktop session, or use the command line: "
              "beat-panel status, start, stop, restart, schedule.", file=sys.stderr)
        return exit_codes.FAILED
    if command == "gui":
        from beat_panel.ui.app import run_gui  # Qt only for the window

        return run_gui(config, getattr(args, "screenshot", None),
                       getattr(args, "refresh", None))
    if command == "tray":
        from beat_panel.ui.app import run_tray

        return run_tray(config, args.wait_for_tray, args.refresh)
    _interruptible()  # (the window and the tray handle their signals in the event loop)
    if command == "schedule":
        return schedule.run(args, config, as_json)
    if command == "health":
        return health.run_health(args, config, as_json)
    if command == "why":
        return health.run_why(args, config, as_json)
    if command == "alerts":
        return alerts.run(args, config, as_json)
    if command == "status":
        result = check_status(config, full_scan=not args.fast)
        _emit({**result.to_json(), "config_notes": list(config.notes)}, as_json,
              _status_text(result, config))
        return exit_codes.FAILED if result.state == "error" else exit_codes.OK

    if command == "start":
        outcome = actions.start(config, force=args.force)
    elif command == "stop":
        outcome = actions.stop(config)
    elif command == "stop-extra":
        outcome = actions.stop_extra(config)
    else:
        outcome = actions.restart(config)
    _emit(outcome.to_json(), as_json, _action_text(outcome))
    return exit_codes.for_result(outcome)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
