"""How beat is started: the command line, folder and environment, from the config or
rebuilt from a running beat, and the command a person can paste to do it by hand."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

import psutil

from beat_panel import paths
from beat_panel.config import Config
from beat_panel.errors import PanelError
from beat_panel.process import BeatProcess

PLUGIN_SCHEDULER = "beat_panel.plugin:PanelScheduler"


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to start beat: argv, working directory, environment, files."""

    argv: tuple[str, ...]
    cwd: Path
    env: dict[str, str]
    pidfile: Path | None
    logfile: Path


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
    argv = [*beat.command, "-A", beat.app, "beat"]
    if beat.pidfile is not None and not any(a.startswith("--pidfile") for a in beat.args):
        argv.append(f"--pidfile={beat.pidfile}")
    env = dict(os.environ)
    if config.schedule_file is not None:
        argv += ["-S", PLUGIN_SCHEDULER]
        env["BEAT_PANEL_SCHEDULE"] = str(config.schedule_file)
        # Beat may run in the project's own environment: let it import the plugin.
        try:
            folder = paths.plugin_import_dir()
        except OSError as exc:
            raise LaunchError(
                f"Cannot prepare the folder that lets beat import the panel's scheduler, in "
                f"{paths.state_dir()}: {exc}. Make sure that folder can be created and "
                "written (it is under $XDG_STATE_HOME, or ~/.local/state).") from exc
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(folder), env.get("PYTHONPATH")) if p)
    argv += beat.args
    env.update(beat.env)
    return LaunchSpec(tuple(argv), beat.workdir, env, beat.pidfile, logfile_for(config))


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
    return LaunchSpec(tuple(words), cwd, env, pidfile, logfile_for(config))


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
    words += ["--celery", " ".join(beat.command)]
    if beat.args:
        words += ["--", *beat.args]
    return shlex.join(words)
