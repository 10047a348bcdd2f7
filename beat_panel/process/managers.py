"""Process managers that may own a beat: systemd units and supervisord programs.

A beat under a manager is restarted through that manager, never by starting a second
copy beside it (the manager would restart the old one and two beats would run).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

_SUPERVISOR_FAULT_NOT_RUNNING = 70
_SUPERVISOR_FAULT_ALREADY_STARTED = 60
_PERMISSION_WORDS = ("access denied", "interactive authentication", "not authorized", "permission")


@dataclass(frozen=True)
class Manager:
    """The manager that runs a beat process."""

    kind: str  # "systemd" or "supervisord"
    name: str | None  # systemd unit, or supervisord "group:program" (None if unknown)
    user_scope: bool = False  # systemd --user unit
    server_url: str | None = None  # supervisord's XML-RPC address

    def to_json(self) -> dict:
        return {"kind": self.kind, "name": self.name, "user": self.user_scope}

    def command(self, action: str) -> str:
        """The shell command a person would type to `action` (restart/stop/start) beat."""
        if self.kind == "systemd":
            unit = shlex.quote(self.name or "")
            if self.user_scope:
                return f"systemctl --user {action} {unit}"
            return f"sudo systemctl {action} {unit}"
        name = shlex.quote(self.name) if self.name else "<program>"
        return f"sudo supervisorctl {action} {name}"

    def describe(self) -> str:
        if self.kind == "systemd":
            return f"systemd {'user ' if self.user_scope else ''}unit {self.name}"
        return f"supervisord program {self.name or '(name unknown)'}"


@dataclass(frozen=True)
class ManagerOutcome:
    """What asking the manager did."""

    success: bool
    permission_denied: bool
    message: str


def parse_cgroup(text: str) -> tuple[str, bool] | None:
    """The systemd service unit in a /proc/PID/cgroup text, as (unit, is_user_unit).

    `0::/system.slice/celerybeat.service` is the system unit celerybeat.service;
    `.../user@1000.service/app.slice/beat.service` is the user unit beat.service.
    Scopes (a terminal session) and the user manager itself are no unit of beat's.
    """
    unified = legacy = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            unified = parts[2]
        elif parts[1] == "name=systemd":
            legacy = parts[2]  # hybrid hierarchy: systemd's own tree names the unit
    path = legacy or unified
    if not path:
        return None
    components = [c for c in path.split("/") if c]
    units = [c for c in components if c.endswith(".service")]
    if not units:
        return None
    unit = units[-1]
    if unit.startswith("user@"):
        return None
    return unit, any(c.startswith("user@") for c in components)


def _is_supervisord(proc: psutil.Process) -> bool:
    try:
        words = proc.cmdline()
    except psutil.Error:
        return False
    names = [os.path.basename(w) for w in words[:2]]
    return "supervisord" in names


def detect_manager(pid: int) -> Manager | None:
    """Which manager runs pid: its systemd service unit, a supervisord parent, or None."""
    try:
        cgroup = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        cgroup = ""
    unit = parse_cgroup(cgroup)
    if unit is not None:
        return Manager("systemd", unit[0], user_scope=unit[1])
    try:
        proc = psutil.Process(pid)
        parent = proc.parent()
    except psutil.Error:
        return None
    if parent is None or not _is_supervisord(parent):
        return None
    try:
        env = proc.environ()
    except psutil.Error:
        return Manager("supervisord", None)
    group = env.get("SUPERVISOR_GROUP_NAME")
    program = env.get("SUPERVISOR_PROCESS_NAME")
    name = program if not group or group == program else f"{group}:{program}"
    return Manager("supervisord", name, server_url=env.get("SUPERVISOR_SERVER_URL"))


def run_action(manager: Manager, action: str, timeout: float = 60.0) -> ManagerOutcome:
    """Ask the manager to `action` (restart or stop) beat; never raises for the
    expected failures, which come back as an outcome with a message."""
    if manager.kind == "systemd":
        return _systemctl(manager, action, timeout)
    return _supervisor(manager, action, timeout)


def _systemctl(manager: Manager, action: str, timeout: float) -> ManagerOutcome:
    argv = ["systemctl"]
    if manager.user_scope:
        argv.append("--user")
    argv += ["--no-ask-password", action, manager.name or ""]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return ManagerOutcome(False, False, "systemctl is not installed, so the unit cannot be "
                              f"asked to {action}.")
    except subprocess.TimeoutExpired:
        return ManagerOutcome(False, False, f"`{' '.join(argv)}` did not finish within "
                              f"{timeout:.0f} s.")
    if done.returncode == 0:
        return ManagerOutcome(True, False, f"systemd did {action} {manager.name}.")
    err = (done.stderr or done.stdout).strip()
    denied = any(word in err.lower() for word in _PERMISSION_WORDS)
    return ManagerOutcome(False, denied, f"`{' '.join(argv)}` failed: {err or done.returncode}")


def _supervisor(manager: Manager, action: str, timeout: float) -> ManagerOutcome:
    if not manager.name or not manager.server_url:
        return ManagerOutcome(
            False, True,
            "Beat runs under supervisord as another user, so Beat Panel cannot ask "
            "supervisord for it.",
        )
    import xmlrpc.client  # only here: it is slow to import and rarely needed

    from beat_panel.process.supervisor_rpc import supervisor_proxy

    proxy = supervisor_proxy(manager.server_url, timeout)
    try:
        if action in ("stop", "restart"):
            try:
                proxy.supervisor.stopProcess(manager.name, True)
            except xmlrpc.client.Fault as fault:
                if fault.faultCode != _SUPERVISOR_FAULT_NOT_RUNNING:
                    raise
        if action in ("start", "restart"):
            try:
                proxy.supervisor.startProcess(manager.name, True)
            except xmlrpc.client.Fault as fault:
                if fault.faultCode != _SUPERVISOR_FAULT_ALREADY_STARTED:
                    raise
    except xmlrpc.client.ProtocolError as exc:
        denied = exc.errcode == 401
        return ManagerOutcome(False, denied, f"supervisord refused the request ({exc.errcode} "
                              f"{exc.errmsg}).")
    except xmlrpc.client.Fault as fault:
        return ManagerOutcome(False, False, f"supervisord could not {action} {manager.name}: "
                              f"{fault.faultString}.")
    except OSError as exc:
        return ManagerOutcome(False, exc.errno in (13, 1), f"Cannot reach supervisord at "
                              f"{manager.server_url}: {exc}.")
    # startProcess(wait=True) returned, so the program passed its startsecs.
    return ManagerOutcome(True, False, f"supervisord did {action} {manager.name}.")
