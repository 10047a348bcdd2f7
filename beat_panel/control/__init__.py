"""Controlling beat: its status, start / stop / restart, what to tell people about the
outcome, keep-alive, and the activity log of what was done and what happened."""
