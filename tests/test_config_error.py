"""A config that cannot be used, launched from a menu: a window names the file and the
key, opens the file, and takes the fixed config on Try again."""

import pytest

from beat_panel.config import ConfigError, load
from beat_panel.ui.config_error import ask_until_usable

from scripted_dialogs import ScriptedDialogs


class FixingDialogs(ScriptedDialogs):
    """A person who reads the message, fixes the file, and chooses Try again."""

    def __init__(self, path, fixed_text: str) -> None:
        super().__init__()
        self.path, self.fixed_text = path, fixed_text

    def launch(self, prompt):
        self.shown.append(prompt)
        self.path.write_text(self.fixed_text)
        return "retry"


def bad_config(tmp_path):
    path = tmp_path / "beat-panel.toml"
    path.write_text('[beat]\napp = "proj"\nstop_timout = 5\n')
    with pytest.raises(ConfigError) as caught:
        load(str(path))
    return path, caught.value


def test_the_error_names_the_file_and_the_key_and_a_fix_is_taken(tmp_path, qapp):
    path, error = bad_config(tmp_path)
    assert error.path == path.resolve()
    dialogs = FixingDialogs(path, '[beat]\napp = "proj"\nstop_timeout = 5\n')
    config = ask_until_usable(error, str(path), dialogs)
    (prompt,) = dialogs.shown
    assert "stop_timout" in prompt.text
    assert str(path.resolve()) in prompt.informative
    assert [key for key, _ in prompt.buttons] == ["open", "retry", "choose", "quit"]
    assert config is not None and config.beat.app == "proj" and config.beat.stop_timeout == 5


def test_quitting_gives_no_config(tmp_path, qapp):
    path, error = bad_config(tmp_path)
    dialogs = ScriptedDialogs()
    dialogs.answers = ["quit"]
    assert ask_until_usable(error, str(path), dialogs) is None


def test_open_the_file_without_a_program_for_it_says_so(tmp_path, qapp, monkeypatch):
    from PySide6.QtGui import QDesktopServices

    asked = []

    def no_program(url) -> bool:  # no desktop here: the one Qt call that cannot exist
        asked.append(url.toLocalFile())
        return False

    monkeypatch.setattr(QDesktopServices, "openUrl", no_program)
    path, error = bad_config(tmp_path)
    dialogs = ScriptedDialogs()
    dialogs.answers = ["open", "ok", "quit"]
    assert ask_until_usable(error, str(path), dialogs) is None
    assert asked == [str(path.resolve())]
    told = dialogs.shown[1]
    assert told.title == "Cannot open the file" and str(path.resolve()) in told.text
