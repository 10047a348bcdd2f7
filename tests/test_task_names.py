"""A task name the app does not register: warned about with the closest registered names,
saved all the same (a worker elsewhere may register it), never a failure."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from beat_panel.celeryapp.tasknames import check_task, closest_names

from conftest import run_cli

TASKS = ["shop.tasks.cleanup_carts", "shop.tasks.send_invoices", "shop.tasks.ping"]


def test_closest_names_by_the_whole_name_and_by_its_last_part():
    assert closest_names("shop.tasks.send_invoice", TASKS)[0] == "shop.tasks.send_invoices"
    assert closest_names("cleanup_cart", TASKS) == ["shop.tasks.cleanup_carts"]
    assert closest_names("zzz.qqq", TASKS) == []


def test_a_registered_name_a_builtin_and_unknown_tasks_give_no_warning():
    assert check_task("shop.tasks.ping", TASKS).registered is True
    assert check_task("celery.backend_cleanup", TASKS).warning is None
    unknown = check_task("shop.tasks.pong", None, "shop", "it did not load")
    assert unknown.registered is None and unknown.warning is None


def test_the_warning_names_the_task_and_the_closest_registered_names():
    check = check_task("shop.tasks.send_invoice", TASKS, "shop")
    assert check.registered is False
    assert "'shop.tasks.send_invoice'" in check.warning
    assert "did you mean 'shop.tasks.send_invoices'" in check.warning
    far = check_task("zzz.qqq", TASKS, "shop")
    assert "registers 3 tasks, none with a similar name" in far.warning


def _project(root: Path) -> Path:
    """A real Celery project (run by the panel's own celery) and its beat-panel.toml."""
    root.mkdir()
    (root / "shop.py").write_text(textwrap.dedent("""
        from celery import Celery

        app = Celery("shop", broker="memory://")

        @app.task(name="shop.tasks.send_invoices")
        def send_invoices():
            pass

        @app.task(name="shop.tasks.cleanup_carts")
        def cleanup_carts():
            pass
    """))
    config = root / "beat-panel.toml"
    config.write_text('[beat]\napp = "shop"\n[schedule]\nfile = "schedule.json"\n')
    return config


def _entries(root: Path) -> dict:
    return {e["name"]: e for e in json.loads((root / "schedule.json").read_text())["entries"]}


def test_schedule_add_warns_about_a_task_the_app_does_not_register(tmp_path):
    config = _project(tmp_path / "shop")
    result = run_cli("--config", str(config), "schedule", "add", "invoices",
                     "--task", "shop.tasks.send_invoice", "--every", "60")
    assert result.code == 0, result.stderr
    assert "warning" in result.stderr
    assert "'shop.tasks.send_invoice'" in result.stderr
    assert "did you mean 'shop.tasks.send_invoices'" in result.stderr
    assert "Added 'invoices'" in result.stdout
    assert _entries(tmp_path / "shop")["invoices"]["task"] == "shop.tasks.send_invoice"

    as_json = run_cli("--config", str(config), "schedule", "add", "carts", "--json",
                      "--task", "cleanup_cart", "--every", "60")
    assert as_json.code == 0, as_json.stderr
    (warning,) = as_json.json["warnings"]
    assert "shop.tasks.cleanup_carts" in warning and warning in as_json.stderr


def test_schedule_add_of_a_registered_task_says_nothing_more(tmp_path):
    config = _project(tmp_path / "shop")
    result = run_cli("--config", str(config), "schedule", "add", "invoices", "--json",
                     "--task", "shop.tasks.send_invoices", "--every", "60")
    assert result.code == 0, result.stderr
    assert result.stderr == ""
    assert result.json["warnings"] == []
    assert "invoices" in _entries(tmp_path / "shop")


def test_an_app_that_cannot_be_read_never_fails_the_add(tmp_path):
    config = _project(tmp_path / "shop")
    config.write_text('[beat]\napp = "no_such_shop"\n[schedule]\nfile = "schedule.json"\n')
    result = run_cli("--config", str(config), "schedule", "add", "invoices",
                     "--task", "shop.tasks.send_invoice", "--every", "60")
    assert result.code == 0, result.stderr
    assert "warning" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 1  # at most one short note
    assert "invoices" in _entries(tmp_path / "shop")
