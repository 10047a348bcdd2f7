"""A real desktop for tests of what only a desktop shows: Xvfb, the openbox window
manager and trayer as the tray host, driven with xdotool, and a screen reader that
answers pixel colours and screenshots on request."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ProcessTracker, wait_until

TOOLS = ("Xvfb", "openbox", "trayer", "xdotool", "xwininfo")

# A long-lived reader of the screen, so a colour costs milliseconds, not a Python start.
SCREEN_READER = textwrap.dedent("""
    import sys
    from PySide6.QtGui import QGuiApplication
    app = QGuiApplication([])
    screen = app.primaryScreen()
    for line in sys.stdin:
        words = line.split()
        if words[0] == "pixel":
            image = screen.grabWindow(0, int(words[1]), int(words[2]), 1, 1).toImage()
            print(image.pixelColor(0, 0).name(), flush=True)
        elif words[0] == "shot":
            print("ok" if screen.grabWindow(0).save(words[1]) else "failed", flush=True)
""")


@dataclass
class Desktop:
    env: dict
    reader: subprocess.Popen

    def run(self, *argv: str) -> str:
        done = subprocess.run(list(argv), env=self.env, capture_output=True, text=True,
                              timeout=30)
        return done.stdout

    def xdotool(self, *args: str) -> str:
        return self.run("xdotool", *args)

    def pixel(self, x: int, y: int) -> str:
        assert self.reader.stdin is not None and self.reader.stdout is not None
        self.reader.stdin.write(f"pixel {x} {y}\n")
        self.reader.stdin.flush()
        return self.reader.stdout.readline().strip()

    def screenshot(self, path: Path) -> None:
        assert self.reader.stdin is not None and self.reader.stdout is not None
        self.reader.stdin.write(f"shot {path}\n")
        self.reader.stdin.flush()
        assert self.reader.stdout.readline().strip() == "ok"

    def click(self, x: int, y: int, button: int = 1) -> None:
        self.xdotool("mousemove", "--sync", str(x), str(y), "click", str(button))

    def tray_icon(self, title: str = "Beat Panel") -> tuple[int, int] | None:
        """The centre of the left half of the icon embedded in trayer (the right half
        may hold the glyph)."""
        tree = self.run("xwininfo", "-root", "-tree")
        for match in re.finditer(rf'"{title}": \("[^"]*" "{title}"\)\s+(\d+)x(\d+)\+\S+\s+'
                                 r"\+(\d+)\+(\d+)", tree):
            width, height, x, y = map(int, match.groups())
            if width <= 64 and height <= 64:  # not a notification bubble of the same name
                return x + width // 4, y + height // 2
        return None

    def visible_window(self, name: str) -> int | None:
        found = self.xdotool("search", "--onlyvisible", "--name", name).split()
        return int(found[0]) if found else None

    def geometry(self, window: int) -> tuple[int, int, int, int]:
        """Where the window's client area is on the screen (xwininfo's absolute corner:
        xdotool's own answer is off by the frame under a reparenting window manager)."""
        info = self.run("xwininfo", "-id", str(window))
        field = {key.strip(): value.strip() for key, _, value in
                 (line.partition(":") for line in info.splitlines()) if value}
        return (int(field["Absolute upper-left X"]), int(field["Absolute upper-left Y"]),
                int(field["Width"]), int(field["Height"]))


def _start_x_server(procs: ProcessTracker) -> tuple[subprocess.Popen, dict]:
    """An Xvfb on a display it picks itself (-displayfd: no race with another test run
    choosing the same number), once it accepts connections."""
    read_end, write_end = os.pipe()
    try:
        # -noreset: by default the server resets when its last client leaves (each of
        # our xwininfo looks), and a client that connects during the reset (openbox)
        # fails with "Failed to open the display".
        server = procs.popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0",
                              "1280x800x24", "-nolisten", "tcp", "-noreset"],
                             pass_fds=(write_end,))
    finally:
        os.close(write_end)
    with os.fdopen(read_end) as told:
        number = told.readline().strip()  # written once the server is ready
    if not number.isdigit():
        pytest.fail(f"Xvfb did not say its display (exit status {server.poll()})")
    env = dict(os.environ, DISPLAY=f":{number}")
    env.pop("QT_QPA_PLATFORM", None)
    wait_until(lambda: subprocess.run(["xwininfo", "-root"], env=env,
                                      capture_output=True).returncode == 0,
               timeout=30, what=f"Xvfb on :{number} to accept connections")
    return server, env


@pytest.fixture
def desktop(procs: ProcessTracker, tmp_path: Path):
    """Xvfb + openbox + trayer, and a screen reader; everything ended by pid after."""
    for tool in TOOLS:
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: `bash packaging/setup.sh test` installs it")
    server, env = _start_x_server(procs)
    log = tmp_path / "desktop.log"
    with open(log, "wb") as out:
        wm = procs.popen(["openbox", "--sm-disable"], env=env, stdout=out, stderr=out)
        # Generous: on a loaded two-core machine openbox has taken over 15 s to start.

        def wm_up() -> bool:
            assert wm.poll() is None, f"openbox exited: {log.read_text()}"
            return _wm_named(env)

        wait_until(wm_up, timeout=90, what="openbox to manage the screen")
        host = procs.popen(["trayer", "--edge", "top", "--align", "right", "--widthtype",
                            "pixel", "--width", "120", "--heighttype", "pixel", "--height",
                            "40", "--transparent", "false", "--tint", "0x333333"], env=env,
                           stdout=out, stderr=out)

    def tray_host_up() -> bool:
        assert host.poll() is None, f"trayer exited: {log.read_text()}"
        tree = subprocess.run(["xwininfo", "-root", "-tree"], env=env, capture_output=True,
                              text=True).stdout
        return '("panel" "trayer")' in tree

    wait_until(tray_host_up, timeout=90, what="trayer's panel")
    reader = procs.popen([sys.executable, "-c", SCREEN_READER], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    yield Desktop(env, reader)
    assert reader.stdin is not None
    reader.stdin.close()
    reader.wait(timeout=10)
    # End the X server gracefully so it removes its lock and socket for the next one.
    for proc in (host, wm, server):
        proc.terminate()
        proc.wait(timeout=10)


def _wm_named(env: dict) -> bool:
    """openbox names itself on the window that _NET_SUPPORTING_WM_CHECK points to."""
    check = subprocess.run(["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"], env=env,
                           capture_output=True, text=True).stdout
    match = re.search(r"window id # (0x[0-9a-f]+)", check)
    if not match:
        return False
    name = subprocess.run(["xprop", "-id", match.group(1), "_NET_WM_NAME"], env=env,
                          capture_output=True, text=True).stdout
    return "Openbox" in name
