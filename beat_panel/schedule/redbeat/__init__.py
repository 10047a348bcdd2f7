"""The schedule in Redis, in the format a stock RedBeat beat (`redbeat.RedBeatScheduler`,
PyPI `celery-redbeat`) runs: the entries' codec, the store behind the same interface as
the schedule file, and what RedBeat's lock says about the beats that use it.

Nothing here imports RedBeat: the format is written and read by the panel's own code, so
a beat on a server needs only RedBeat, never Beat Panel.
"""
