"""Finding and identifying beat processes: argv parsing, the /proc scan, pidfiles, and the
service managers (systemd, supervisord) a beat may run under."""

from beat_panel.process.scan import (
    BeatProcess,
    PidfileState,
    exit_status,
    is_alive,
    read_cmdline,
    read_pidfile,
    reap_children,
    remember_child,
    scan,
)

__all__ = ["BeatProcess", "PidfileState", "exit_status", "is_alive", "read_cmdline", "read_pidfile",
           "reap_children", "remember_child", "scan"]
