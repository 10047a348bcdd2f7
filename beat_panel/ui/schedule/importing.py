""""Import from app…" as a conversation: ask before replacing entries that differ, then
tell what was skipped or changed and why. The import itself is the core's `plan_import`,
the same one `beat-panel schedule import` runs."""

from __future__ import annotations

from beat_panel.celeryapp.appinfo import AppInfo
from beat_panel.schedule import Document
from beat_panel.schedule.session import ImportPlan, SkipReason, plan_import
from beat_panel.ui.dialogs import Dialogs

# Skips a person should look at; an entry already there unchanged is only worth a line.
_PROBLEMS = (SkipReason.UNUSABLE, SkipReason.INVALID, SkipReason.EXISTS, SkipReason.DUPLICATE)


def choose_plan(dialogs: Dialogs, document: Document, info: AppInfo) -> ImportPlan:
    """The import into `document`; entries that exist and differ from the app's are
    replaced only when the person says so (the command line's --replace)."""
    plan = plan_import(document, info, replace=False)
    if not plan.conflicting:
        return plan
    names = plan.conflicting
    what = f"'{names[0]}' is" if len(names) == 1 else f"{len(names)} entries are"
    answer = dialogs.ask(
        "Replace existing entries?",
        f"{what} already in the schedule and differ from the app's: {', '.join(names)}.",
        (("keep", "Keep mine"), ("replace", "Replace with the app's")), "keep",
        "Nothing is written until you save.")
    return plan_import(document, info, replace=True) if answer == "replace" else plan


def tell_outcome(dialogs: Dialogs, plan: ImportPlan) -> None:
    """A message box listing every entry and change, when anything was skipped or
    changed beyond adding entries."""
    if not (plan.skipped or plan.changed or plan.notes):
        return
    problems = [s for s in plan.skipped if s.reason in _PROBLEMS]
    if problems:
        count = len(problems)
        level, title = "warning", "Some entries were not imported"
        text = f"{count} entr{'y was' if count == 1 else 'ies were'} skipped: " \
               f"{', '.join(s.name for s in problems)}."
    else:
        level, title = "info", "Imported from the app"
        text = plan.summary
    dialogs.tell(level, title, text, plan.summary if problems else "",
                 details="\n".join(plan.lines()))
