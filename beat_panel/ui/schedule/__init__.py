"""The schedule editor: table, entry dialog, and the editor that ties them together."""
