"""`python -m beat_panel` runs the `beat-panel` command."""

from beat_panel.cli import main

raise SystemExit(main())
