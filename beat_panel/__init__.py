"""Beat Panel: a desktop control panel for Celery Beat."""

__version__ = "0.1.0"
