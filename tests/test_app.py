"""Starting the Qt side: tray or window, and one instance per user."""

from PySide6.QtWidgets import QApplication

from beat_panel.ui.app import Panel
from beat_panel.ui.single_instance import SingleInstance


def test_with_no_tray_the_window_opens_instead_and_says_why(fake_project, qtbot):
    panel = Panel(fake_project().load(), QApplication.instance(), refresh_seconds=30)
    panel.tray_or_window(wait_seconds=0.2, poll_ms=50)  # offscreen Qt has no tray
    qtbot.waitUntil(lambda: panel.window is not None, timeout=5000)
    qtbot.addWidget(panel.window)
    assert panel.tray is None and panel.window.isVisible()
    assert "No system tray appeared" in panel.window.statusBar().currentMessage()
    panel.shutdown()


def test_a_second_instance_hands_over_to_the_first(qtbot):
    first = SingleInstance(name="beat-panel-test-instance")
    assert first.listen()
    requests = []
    first.request.connect(requests.append)
    second = SingleInstance(name="beat-panel-test-instance")
    assert second.hand_over("show")
    qtbot.waitUntil(lambda: requests == ["show"], timeout=5000)
    first.server.close()
    assert not SingleInstance(name="beat-panel-test-instance").hand_over("show")
