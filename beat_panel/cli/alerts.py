"""`beat-panel alerts test`: send a test alert through every channel `[alerts]` sets up
and say how each did, so a person can check their SMTP settings before beat dies.

Exit 0 when every channel worked, 1 when one failed, 2 when there is no [alerts]."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from beat_panel.cli import exit_codes
from beat_panel.config import Config


def add_parser(sub: argparse._SubParsersAction,
               with_json: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("alerts", help="check the alerts of [alerts] (e-mail, command)")
    actions = parser.add_subparsers(dest="alerts_command", metavar="ACTION",
                                    parser_class=type(parser))
    actions.required = True
    with_json(actions.add_parser(
        "test", help="send a test alert through every channel and report each (exit 1 if "
                     "one failed)"))


def run(args: argparse.Namespace, config: Config, as_json: bool) -> int:
    if config.alerts is None:
        where = "the built-in demo project" if config.is_demo else str(config.path)
        message = (f"No [alerts] section in {where}: there is nothing to test. Add one "
                   "(see \"Alerts\" in the README), e.g. [alerts] email_to = "
                   "[\"you@example.com\"].")
        _emit(as_json, {"success": False, "channels": [], "message": message}, message)
        return exit_codes.USAGE
    # Imported here: smtplib and e-mail cost every other command (the window) 60 ms.
    from beat_panel.alerts import send_test

    outcomes = send_test(config)
    failed = [o for o in outcomes if not o.success]
    message = (f"The test alert went out through all {len(outcomes)} channel(s)."
               if not failed else
               f"The test alert failed through {len(failed)} of {len(outcomes)} channel(s).")
    text = "\n".join([*(o.describe() for o in outcomes), message])
    _emit(as_json, {"success": not failed, "channels": [o.to_json() for o in outcomes],
                    "message": message}, text)
    return exit_codes.FAILED if failed else exit_codes.OK


def _emit(as_json: bool, payload: dict, text: str) -> None:
    print(json.dumps(payload, sort_keys=True) if as_json else text)
