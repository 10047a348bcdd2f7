"""The demo Celery app: three periodic tasks on kombu's filesystem broker.

The broker is a folder in the user's data folder (or $BEAT_PANEL_DEMO_DIR), so beat and a
worker run on any machine without Redis or RabbitMQ. Start it with
`celery -A beat_panel.demo.app beat` or `celery -A beat_panel.demo.app worker`.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery


def demo_folder() -> Path:
    """Where the demo keeps its broker folders and run files."""
    override = os.environ.get("BEAT_PANEL_DEMO_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "beat-panel" / "demo"


# How often a worker, beat and the panel's probes look for new message files (kombu's
# default is 1 s: a remote-control ping with a 1 s timeout would often go unanswered).
POLLING_INTERVAL = 0.1


def broker_options(folder: Path) -> dict:
    """The filesystem transport's options, every folder absolute and made.

    kombu keeps its exchange tables (which queue is bound to which exchange: the
    remote-control fanout, the reply exchange) in `control_folder`, `./control` when it
    is not set: relative to each process's own folder, so a worker started elsewhere
    never heard the panel's ping, nor beat's tasks. `<demo>/control` is where earlier
    versions' beat and probes (run inside the demo folder) kept them: a demo folder made
    by one of them keeps working."""
    folder = folder.absolute()
    queue = folder / "broker" / "queue"
    processed = folder / "broker" / "processed"
    control = folder / "control"
    for path in (queue, processed, control):
        path.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "processed_folder": str(processed),
        "store_processed": False,
        "control_folder": str(control),
        "polling_interval": POLLING_INTERVAL,
    }


app = Celery("beat_panel_demo", broker="filesystem://")
app.conf.update(
    broker_transport_options=broker_options(demo_folder()),
    broker_connection_retry_on_startup=True,
    result_backend=None,
    task_ignore_result=True,
    timezone="UTC",
    beat_schedule={
        "say-hello-every-30s": {"task": "beat_panel.demo.app.say_hello", "schedule": 30.0},
        "add-numbers-every-minute": {
            "task": "beat_panel.demo.app.add",
            "schedule": 60.0,
            "args": (2, 3),
        },
        "tidy-up-hourly": {"task": "beat_panel.demo.app.tidy_up", "schedule": 3600.0},
    },
)


@app.task
def say_hello(name: str = "world") -> str:
    """Greets; shows up in the worker log every 30 seconds."""
    return f"Hello, {name}!"


@app.task
def add(x: int, y: int) -> int:
    """Adds two numbers."""
    return x + y


@app.task
def tidy_up() -> int:
    """Pretends to clean up; returns how many things it tidied."""
    return 0
