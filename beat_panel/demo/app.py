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


def _broker_options(folder: Path) -> dict:
    queue = folder / "broker" / "queue"
    processed = folder / "broker" / "processed"
    for path in (queue, processed):
        path.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "processed_folder": str(processed),
        "store_processed": False,
    }


app = Celery("beat_panel_demo", broker="filesystem://")
app.conf.update(
    broker_transport_options=_broker_options(demo_folder()),
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
