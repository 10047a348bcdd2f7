"""A Dialogs wrapper for tests: answers prompts from a queue and remembers what was
shown, so message boxes never block a test."""

from beat_panel.ui.dialogs import Dialogs, Prompt


class ScriptedDialogs(Dialogs):
    def __init__(self) -> None:
        super().__init__(None)
        self.shown: list[Prompt] = []
        self.answers: list[str] = []

    def launch(self, prompt: Prompt) -> str:
        self.shown.append(prompt)
        return self.answers.pop(0) if self.answers else prompt.default
