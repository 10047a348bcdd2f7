"""The installer: the bundle's unpacked size and the .deb's, against the PySide6 that pip
puts in a virtual environment; and the installed app's cold start to a painted window,
against the same app run from the source tree, side by side in the same run.

The package is `dist/beat-panel_<version>_<arch>.deb` (built by `bash packaging/build.sh`
first when it is missing) unpacked into a temp folder with `dpkg-deb -x`: the same files
apt installs, without touching the machine (only the celery script's `#!` line is pointed
at the unpacked bundle's Python). Each launch is a fresh process with offscreen
Qt and its own XDG folders, the file cache warm (one warm-up launch of each first):

- to the first painted frame: bench_window's probe script, run by the source tree's
  Python and by the bundle's own `python` (the installed program under that name, so
  PySide6 and the panel come from the bundle);
- `beat-panel gui --screenshot`: the installed command and `python -m beat_panel`,
  from start to the PNG written and the process gone (it waits for the first status
  check, so this includes one)."""

from __future__ import annotations

import ast
import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_window import CHILD
from harness import Row, Spawned, Timing, rounds, timed_row
from qtworker import qt_env

REPO = Path(__file__).resolve().parent.parent
PREFIX = "usr/lib/beat-panel"
UNPACKED_MAX_MIB = 150.0
DEB_MAX_MIB = 50.0
LAUNCH_MAX_RATIO = 1.5
CHILD_TIMEOUT_S = 90.0


def _version() -> str:
    tree = ast.parse((REPO / "beat_panel" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__version__":
            return str(ast.literal_eval(node.value))
    raise RuntimeError("beat_panel/__init__.py names no __version__")


def _deb() -> Path:
    """The package of this checkout's version, built first when dist/ lacks it."""
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    deb = REPO / "dist" / f"beat-panel_{_version()}_{arch}.deb"
    if not deb.exists():
        print(f"installer: {deb.name} is missing; building it (bash packaging/build.sh)…",
              file=sys.stderr)
        subprocess.run(["bash", str(REPO / "packaging" / "build.sh")], cwd=REPO, check=True,
                       stdout=sys.stderr)
    return deb


def _point_celery_at_the_unpacked_python(bundle: Path) -> None:
    """The bundle's celery script names /usr/lib/beat-panel/python in its `#!` line; here
    it must name the unpacked one, or every check that runs the project's Python (the
    demo's, in the bundle) fails at once instead of running, and the unpacked app would
    look faster than the installed one."""
    script = bundle / "celery"
    lines = script.read_text().splitlines(keepends=True)
    script.write_text(f"#!{bundle / 'python'}\n" + "".join(lines[1:]))


def _tree_mib(folder: Path) -> float:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def _size_rows(deb: Path, root: Path) -> list[Row]:
    import PySide6
    import shiboken6

    pip_qt = sum(_tree_mib(Path(module.__file__).parent) for module in (PySide6, shiboken6))
    unpacked = _tree_mib(root)
    deb_mib = deb.stat().st_size / 2**20
    base = Timing([pip_qt], [])
    return [
        timed_row("installer: MiB, PySide6 + shiboken6 as pip installs them (baseline)",
                  base, None, note="MiB, not ms"),
        timed_row("installer: MiB unpacked, the whole package", Timing([unpacked], []), base,
                  f"≤ {UNPACKED_MAX_MIB:g} MiB", passed=unpacked <= UNPACKED_MAX_MIB,
                  note="MiB, not ms: Python, Qt, celery and the panel"),
        timed_row("installer: MiB, the .deb", Timing([deb_mib], []), base,
                  f"≤ {DEB_MAX_MIB:g} MiB", passed=deb_mib <= DEB_MAX_MIB,
                  note=f"MiB, not ms; {deb.name}"),
    ]


def _launch(spawned: Spawned, argv: list[str], env: dict[str, str], cwd: Path,
            ) -> dict[str, float]:
    """Run argv to its end; ms from just before the start to each stamp it prints, and to
    its exit ("exit")."""
    start = time.time()
    proc = spawned.popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    try:
        out, _ = proc.communicate(timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        spawned.end(proc)
        raise RuntimeError(f"{argv} did not finish within {CHILD_TIMEOUT_S:g} s") from None
    ended = time.time()
    spawned.end(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited with {proc.returncode}: {out[-500:]!r}")
    stamps = {"exit": (ended - start) * 1000}
    for line in out.splitlines():
        word, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            stamps[word] = (float(value) - start) * 1000
    return stamps


def _launch_rows(root: Path, tmp: Path, quick: bool) -> list[Row]:
    runs = 3 if quick else 7
    child = tmp / "child.py"
    child.write_text(CHILD)
    bundle = root / PREFIX
    shot = tmp / "shot.png"
    cases = {
        "painted, source": [sys.executable, str(child), "panel"],
        "painted, installed": [str(bundle / "python"), str(child), "panel"],
        "screenshot, source": [sys.executable, "-m", "beat_panel", "gui", "--screenshot",
                               str(shot)],
        "screenshot, installed": [str(bundle / "beat-panel"), "gui", "--screenshot",
                                  str(shot)],
    }
    envs = {}
    for name in cases:
        folder = tmp / name.replace(", ", "-")
        folder.mkdir()
        envs[name] = (qt_env(folder, tmp), folder)
    stamps: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
    spawned = Spawned()
    print(f"installer: timing {runs} launches each from the source tree and the package…",
          file=sys.stderr)
    try:
        for name, argv in cases.items():  # warm-up: file cache, the demo folder
            _launch(spawned, argv, *envs[name])
        for name in rounds(list(cases), runs):
            stamps[name].append(_launch(spawned, cases[name], *envs[name]))
    finally:
        spawned.close()

    def timing(name: str, stamp: str) -> Timing[dict[str, float]]:
        return Timing([s[stamp] for s in stamps[name]], stamps[name])

    def imports(name: str) -> str:
        ordered = sorted(s["imported"] for s in stamps[name])
        return f"imports done at {ordered[len(ordered) // 2]:.0f} ms"

    rows = []
    for what, stamp in (("painted", "painted"), ("screenshot", "exit")):
        base = timing(f"{what}, source", stamp)
        installed = timing(f"{what}, installed", stamp)
        ratio = installed.median_ms / base.median_ms
        label = ("launch to painted window" if what == "painted"
                 else "`gui --screenshot` start to exit")
        rows += [
            timed_row(f"installer: {label}, source tree (baseline)", base, None,
                      note=imports(f"{what}, source") if what == "painted" else ""),
            timed_row(f"installer: {label}, installed package", installed, base,
                      f"≤ {LAUNCH_MAX_RATIO:g}×", passed=ratio <= LAUNCH_MAX_RATIO,
                      note=imports(f"{what}, installed") if what == "painted" else ""),
        ]
    return rows


def run(quick: bool) -> list[Row]:
    deb = _deb()
    with tempfile.TemporaryDirectory(prefix="bp-bench-installer-") as name:
        tmp = Path(name)
        root = tmp / "root"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        _point_celery_at_the_unpacked_python(root / PREFIX)
        return [*_size_rows(deb, root), *_launch_rows(root, tmp, quick)]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(f"{row.benchmark:70} {row.median_ms:9.1f} {row.p95_ms:9.1f} "
              f"{row.ratio or 0:6.2f} {row.target:>12} {row.passed}  {row.note}")
