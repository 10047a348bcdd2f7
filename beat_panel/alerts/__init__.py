"""Alerts beyond the desktop: an e-mail (SMTP) and/or a command, sent once when beat
dies, keep-alive gives up, the broker cannot be reached or no worker consumes a queue,
and once more when that clears. Configured by the optional `[alerts]` section."""

from beat_panel.alerts.alerter import Alerter, Delivery, send_test
from beat_panel.alerts.channels import Outcome
from beat_panel.alerts.incidents import Alert, AlertBook

__all__ = ["Alert", "AlertBook", "Alerter", "Delivery", "Outcome", "send_test"]
