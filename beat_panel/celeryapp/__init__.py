"""The user's Celery app, looked at from outside: it is imported only in a subprocess
running the project's own Python, never in the panel."""
