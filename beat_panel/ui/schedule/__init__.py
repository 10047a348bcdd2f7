"""The schedule editor and its parts: the table (table.py), the entry dialog, the toolbar,
the conflict bar and the import conversation, tied together by editor.py on the core's
schedule session."""
