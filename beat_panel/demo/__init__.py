"""A small Celery project that runs with no server: the panel's demo and test subject."""
