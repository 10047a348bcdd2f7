"""A stand-in for the `celery` program, copied into a test folder under the name `celery`.

It behaves like beat (or a worker) as far as process control can tell, chosen by
$FAKE_BEAT_MODE:
  term    (default) handles SIGTERM: removes its pidfile and exits 0, like beat
  ignore  ignores SIGTERM, so only SIGKILL ends it
  crash   prints an import error and exits 1 at once
  lock    exits 73 at once, like celery finding its pidfile held
  late    logs beat's start line, then dies with an error after $FAKE_BEAT_DIE_AFTER
          seconds (default 3), like an app whose broker cannot be reached
Modes that stay up log beat's start line ("beat: Starting...") once they are ready.
When $FAKE_BEAT_READY is set, it writes that file once its signal handlers are in place,
so tests wait for the file instead of sleeping.
"""

import contextlib
import os
import signal
import sys
import time


def _pidfile() -> str | None:
    args = sys.argv[1:]
    for i, arg in enumerate(args):
        if arg.startswith("--pidfile="):
            return arg.split("=", 1)[1]
        if arg == "--pidfile" and i + 1 < len(args):
            return args[i + 1]
    return None


def main() -> int:
    mode = os.environ.get("FAKE_BEAT_MODE", "term")
    print(f"fake celery {' '.join(sys.argv[1:])} (mode {mode}, pid {os.getpid()})", flush=True)
    if mode == "crash":
        print("Error: Unable to load celery application.", flush=True)
        print("ModuleNotFoundError: No module named 'proj'", flush=True)
        return 1
    pidfile = _pidfile()
    if mode == "lock":
        print(f"ERROR: Pidfile ({pidfile}) already exists.", flush=True)
        return 73

    def on_term(signum, frame):
        if pidfile:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(pidfile)
        print("fake celery: got SIGTERM, saved schedule, exiting", flush=True)
        sys.exit(0)

    if mode == "ignore":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, on_term)
    if pidfile:
        with open(pidfile, "w") as fh:
            fh.write(f"{os.getpid()}\n")
    ready = os.environ.get("FAKE_BEAT_READY")
    if ready:
        with open(ready, "w") as fh:
            fh.write(str(os.getpid()))
    print("[2026-01-01 00:00:00,000: INFO/MainProcess] beat: Starting...", flush=True)
    if mode == "late":
        time.sleep(float(os.environ.get("FAKE_BEAT_DIE_AFTER", "3")))
        print("consumer: Cannot connect to redis://localhost:63790//: Connection refused.",
              flush=True)
        return 1
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
