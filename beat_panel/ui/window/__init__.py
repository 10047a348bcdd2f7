"""The control panel window and its parts."""
