"""The `beat-panel` command: a thin face on the core, like the window and the tray."""

from beat_panel.cli.command import main

__all__ = ["main"]
