"""The one base class for errors a person reads: what happened, why, what to do next.

Anything raised as a `PanelError` is shown as its text, never as a traceback; any other
exception reaching a face is a bug, logged with its traceback.
"""

from __future__ import annotations


class PanelError(Exception):
    """An error written for the person who sees it."""
