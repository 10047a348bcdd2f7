"""The frozen bundle's one program, by the name it is run as.

- `beat-panel ...`: the `beat-panel` command.
- `python ...` (a link beside it): a small Python for the panel's own helpers, so that the
  default `[beat] command` (the `celery` script beside it, whose `#!` line names this
  `python`) runs beat, and the app's introspection and health probes run, with no Python
  installed: `python [-I|-E|-s|-S|-u|-B]... (-m MODULE | -c CODE | SCRIPT) [ARG]...`.
- `beat-panel -m MODULE ...` does the same as `python -m MODULE ...`, for the panel's own
  `sys.executable -m beat_panel` (the autostart entry) and `-m celery`.
"""

from __future__ import annotations

import os
import runpy
import sys

# Flags a Python accepts that change nothing here (the bundle never reads site-packages,
# PYTHONPATH or a user's startup file anyway).
_IGNORED_FLAGS = {"-I", "-E", "-s", "-S", "-u", "-B", "-b", "-q", "-O", "-OO"}


def _run_module(module: str, args: list[str]) -> None:
    if module == "beat_panel":
        module = "beat_panel.__main__"
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def _as_python(args: list[str]) -> None:
    while args and args[0] in _IGNORED_FLAGS:
        args = args[1:]
    if not args:
        sys.exit("This is Beat Panel's own Python; it runs -m MODULE, -c CODE or a script.")
    first = args[0]
    if first == "-m" and len(args) > 1:
        _run_module(args[1], args[2:])
    elif first == "-c" and len(args) > 1:
        sys.argv = ["-c", *args[2:]]
        exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})
    elif first.startswith("-"):
        sys.exit(f"Beat Panel's own Python does not take the option {first}.")
    else:
        script = os.path.abspath(first)
        sys.argv = [script, *args[1:]]
        sys.path.insert(0, os.path.dirname(script))
        runpy.run_path(script, run_name="__main__")


def main() -> None:
    name = os.path.basename(sys.argv[0])
    args = sys.argv[1:]
    if name.startswith("python"):
        _as_python(args)
    elif args[:1] == ["-m"] and len(args) > 1:
        _run_module(args[1], args[2:])
    else:
        from beat_panel.cli import main as cli_main

        raise SystemExit(cli_main())


if __name__ == "__main__":
    main()
