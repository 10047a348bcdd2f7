"""How beat is started: the command line, folder and environment, from the config or
rebuilt from a running beat, and the command a person can paste to do it by hand."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from beat_panel import paths
from beat_panel.config import DEFAULT_START_SETTLE, DEFAULT_START_TIMEOUT, Config
from beat_panel.errors import PanelError
from beat_panel.process import BeatProcess
from beat_panel.process.command_path import CommandError, beat_program

PLUGIN_SCHEDULER = "beat_panel.plugin:PanelScheduler"
REDBEAT_SCHEDULER = "redbeat.RedBeatScheduler"


def _names_scheduler(args: tuple[str, ...]) -> bool:
    return any(a in ("-S", "--scheduler") or a.startswith(("--scheduler=", "-S"))
               for a in args)


def _with_loglevel(args: tuple[str, ...]) -> tuple[str, ...]:
    """Beat's args with `--loglevel=INFO` first unless they name a level (`-l`,
    `--loglevel`): celery beat's own default, WARNING, logs no "Sending due task"."""
    if any(a.startswith(("--loglevel", "-l")) for a in args):
        return args
    return ("--loglevel=INFO", *args)


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to start beat: argv, working directory, environment, files."""

    argv: tuple[str, ...]
    cwd: Path
    env: dict[str, str]
    pidfile: Path | None
    logfile: Path  # where the panel sends beat's output
    celery_logfile: Path | None = None  # a log celery writes itself (--logfile in args)

    def files_beat_writes(self) -> list[tuple[str, Path]]:
        """(what, path) of each file beat itself opens to write, by its path."""
        out = [("pidfile", self.pidfile)] if self.pidfile is not None else []
        if self.celery_logfile is not None:
            out.append(("log (--logfile)", self.celery_logfile))
        return out


def option_path(words: Sequence[str], names: tuple[str, ...], cwd: Path) -> Path | None:
    """The path an option of beat's command line gives (the last one wins, as in celery),
    relative to the folder beat runs in: `--pidfile=P`, `--pidfile P`, `-f P`, `-fP`."""
    found = None
    for i, word in enumerate(words):
        for name in names:
            if word == name and i + 1 < len(words):
                found = words[i + 1]
            elif name.startswith("--") and word.startswith(name + "="):
                found = word.split("=", 1)[1]
            elif not name.startswith("--") and word.startswith(name) and word != name:
                found = word[len(name):]
    return Path(cwd, found) if found else None


_PIDFILE_OPTION = ("--pidfile",)
_LOGFILE_OPTIONS = ("--logfile", "-f")


def logfile_for(config: Config) -> Path:
    """Where beat's output goes: the configured log file, else one in the run folder."""
    return config.beat.logfile or config.run_dir / "beat.log"


class LaunchError(PanelError):
    """Beat cannot be launched as configured (a folder the launch needs is unusable)."""


def beat_logfile(config: Config) -> Path | None:
    """The log file the panel shows: the configured one, or where the panel's own launch
    writes (None when the config names no app, so the panel never launches beat)."""
    if config.beat.logfile is not None:
        return config.beat.logfile
    return logfile_for(config) if config.beat.app else None


def configured_launch(config: Config) -> LaunchSpec | None:
    """The launch the config describes, or None when it names no app."""
    beat = config.beat
    if beat.app is None:
        return None
    try:  # found as the look at the app finds it: on PATH, or in workdir; and checked
        program = beat_program(beat.command, beat.workdir, beat.env)
    except CommandError as exc:
        raise LaunchError(f"Cannot start beat: {exc}") from None
    argv = [program.path, *beat.command[1:], "-A", beat.app, "beat"]
    if beat.pidfile is not None and not any(a.startswith("--pidfile") for a in beat.args):
        argv.append(f"--pidfile={beat.pidfile}")
    env = dict(os.environ)
    plugin = config.schedule_file is not None
    if plugin:
        argv += ["-S", PLUGIN_SCHEDULER]
        env["BEAT_PANEL_SCHEDULE"] = str(config.schedule_file)
    elif config.schedule_redis is not None and not _names_scheduler(beat.args):
        # Stock RedBeat runs the schedule in Redis; the app's own config names the Redis
        # (redbeat_redis_url) and the prefix, as it does for a beat on a server.
        argv += ["-S", REDBEAT_SCHEDULER]
    argv += _with_loglevel(beat.args)
    pidfile = option_path(beat.args, _PIDFILE_OPTION, beat.workdir) or beat.pidfile
    celery_log = option_path(beat.args, _LOGFILE_OPTIONS, beat.workdir)
    env.update(beat.env)
    pythonpath = beat_pythonpath(env.get("PYTHONPATH"), plugin)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    else:
        env.pop("PYTHONPATH", None)
    return LaunchSpec(tuple(argv), beat.workdir, env, pidfile, logfile_for(config), celery_log)


def beat_pythonpath(inherited: str | None, plugin: bool) -> str | None:
    """Beat's PYTHONPATH, from the panel's own (or [beat.env]'s) `inherited` one.

    The folder the panel's package is in never gets through: in a checkout that is its
    root, whose `packaging/` folder would stand in for the `packaging` distribution (kombu's
    Redis transport then fails with "No module named 'packaging.version'") and whose
    `tests/` and `bench/` could shadow the project's own modules. In its place, and first
    whenever beat runs the panel's scheduler, goes the folder that holds only a link to
    the panel's package (`paths.plugin_import_dir`), so the project's own environment can
    import the plugin and nothing else of ours.
    """
    home = os.path.realpath(paths.package_home())
    entries = inherited.split(os.pathsep) if inherited else []
    kept = [entry for entry in entries if not (entry and os.path.realpath(entry) == home)]
    if plugin or len(kept) < len(entries):
        # Beat may run in the project's own environment: let it import the plugin.
        try:
            folder = paths.plugin_import_dir()
        except OSError as exc:
            raise LaunchError(
                f"Cannot prepare the folder that lets beat import the panel's scheduler, in "
                f"{paths.state_dir()}: {exc}. Make sure that folder can be created and "
                "written (it is under $XDG_STATE_HOME, or ~/.local/state).") from exc
        kept.insert(0, str(folder))
    return os.pathsep.join(kept) or None


def launch_from_process(beat: BeatProcess, config: Config) -> LaunchSpec:
    """Rebuild how a running beat was started: its argv, folder and environment."""
    words = list(beat.argv)
    if words and words[0].startswith("["):  # setproctitle: `[celery beat] -A x beat ...`
        words = [*config.beat.command, *" ".join(words).split("]", 1)[1].split()]
    try:
        env = psutil.Process(beat.pid).environ()
    except psutil.Error:
        env = dict(os.environ)
    cwd = Path(beat.cwd) if beat.cwd else config.beat.workdir
    pidfile = Path(beat.pidfile) if beat.pidfile else config.beat.pidfile
    return LaunchSpec(tuple(words), cwd, env, pidfile, logfile_for(config),
                      option_path(words, _LOGFILE_OPTIONS, cwd))


def panel_command() -> list[str]:
    """This Beat Panel as a command any user can run: by its absolute path (a venv's
    `beat-panel`, the installed bundle, or this Python with `-m beat_panel`)."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    script = Path(sys.executable).with_name("beat-panel")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "beat_panel"]


def manual_start_command(config: Config) -> str:
    """The command a person can paste into a terminal to start this beat by hand."""
    beat = config.beat
    script = paths.resource("start_celery_beat.sh")
    if beat.app is None:
        return f"cd {shlex.quote(str(beat.workdir))} && celery -A <your app> beat"
    words = [f"{k}={v}" for k, v in sorted(beat.env.items())]
    words = (["env", *words] if words else []) + [
             str(script) if script.exists() else "start_celery_beat.sh",
             "--app", beat.app, "--workdir", str(beat.workdir),
             "--logfile", str(logfile_for(config))]
    if beat.pidfile is not None:
        words += ["--pidfile", str(beat.pidfile)]
    if config.schedule_file is not None:
        words += ["--schedule-file", str(config.schedule_file)]
    # The same watch as the panel's (after the plugin's tick the script, like the panel,
    # watches only briefly).
    if beat.start_timeout != DEFAULT_START_TIMEOUT:
        words += ["--timeout", f"{beat.start_timeout:g}"]
    if beat.start_settle != DEFAULT_START_SETTLE and config.schedule_file is None:
        words += ["--settle", f"{beat.start_settle:g}"]
    words += ["--celery", " ".join(beat.command)]
    words += ["--", *_with_loglevel(beat.args)]
    return shlex.join(words)
