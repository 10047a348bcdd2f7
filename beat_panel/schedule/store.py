"""The schedule file on disk: load it, save it safely, keep its history, and read what
the running beat says it applied.

Saves are atomic; a change made on disk since load is a conflict, never overwritten
silently; a corrupt file is reported and never overwritten; the last saved versions are
kept in a history folder beside the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from beat_panel import schedule
from beat_panel.errors import PanelError
from beat_panel.files.atomic import (
    STALE_AFTER,
    atomic_write,
    read_only_reason,
    remove_orphaned_temp_files,
)
from beat_panel.files.regular import MAX_FILE_BYTES, kind_of, read_regular
from beat_panel.schedule import Document, ScheduleError, beat_report

DEFAULT_HISTORY = 10


class ConflictError(PanelError):
    """The file changed on disk since it was loaded; saving would overwrite that."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def history_dir(schedule_path: Path) -> Path:
    return schedule_path.with_name(f".{schedule_path.name}.history")


@dataclass(frozen=True)
class Loaded:
    """A document as read from disk, with the hash that identifies that version."""

    document: Document
    sha: str | None  # None: the file does not exist yet
    # In Redis: the entries RedBeat rewrites from the app's beat_schedule at each start.
    statics: frozenset[str] = frozenset()
    # In Redis: keys under the prefix that hold no entry the panel can read, and why.
    skipped: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class HistoryItem:
    path: Path
    revision: int
    saved_at: datetime


class ScheduleStore:
    """One schedule file."""

    def __init__(self, path: Path, keep: int = DEFAULT_HISTORY) -> None:
        self.path = path
        self.keep = keep

    def _read(self) -> bytes | None:
        """The file's bytes (None: it does not exist). Opened without blocking and
        checked to be a regular file before anything is read, so a FIFO, a device or a
        folder at the path is an error, never a hang or a read without end; a file over
        MAX_FILE_BYTES is refused."""
        try:
            return read_regular(self.path, limit=MAX_FILE_BYTES)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ScheduleError([("", f"cannot read it: {exc.strerror}")], str(self.path)) \
                from exc

    def load(self) -> Loaded:
        """Read and check the file; a missing file is an empty schedule."""
        data = self._read()
        if data is None:
            return Loaded(Document(), None)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScheduleError([("", f"not UTF-8 text (byte {exc.start})")],
                                str(self.path)) from None
        return Loaded(schedule.loads(text, str(self.path)), sha256(data))

    def current_sha(self) -> str | None:
        data = self._read()
        return None if data is None else sha256(data)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise saves between Beat Panel processes (window, tray, CLI)."""
        lock = self.path.with_name(f".{self.path.name}.lock")
        # Never through a link planted at the lock's name; read-only, so a lock another
        # user of a shared folder created serves as well (flock needs no write access).
        # Without blocking: a FIFO planted there must not hang the save.
        fd = os.open(lock, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                     | os.O_NONBLOCK, 0o644)
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise ScheduleError([("", f"the lock file {lock} is {kind_of(mode)}, not a "
                                          "file; remove it")], str(self.path))
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def save(self, document: Document, base_sha: str | None, force: bool = False,
             replace_damaged: bool = False) -> Loaded:
        """Write `document` as the next revision.

        `base_sha` is the hash of the version the change was made on (None for a file
        that did not exist). If the file on disk is another version, ConflictError,
        unless `force` (the person chose "keep mine"). A corrupt file on disk is never
        overwritten, even with force.
        """
        schedule.check_unique_names(list(document.entries))
        self._refuse_special_file()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            reason = read_only_reason(self.path)
            if reason is not None:
                raise ScheduleError([("", reason)], str(self.path))
            on_disk = self._read()
            disk_sha = None if on_disk is None else sha256(on_disk)
            disk_revision = 0
            if on_disk is not None:
                try:
                    disk_revision = self._revision_of(on_disk, checked=disk_sha == base_sha)
                except (ScheduleError, UnicodeDecodeError) as exc:
                    if replace_damaged:
                        self._keep_damaged(on_disk)
                        on_disk = None
                    else:
                        raise ScheduleError(
                            [("", f"the file on disk is damaged ({exc}); Beat Panel will "
                                  "not overwrite it. Fix it by hand, or restore a saved "
                                  "version")], str(self.path)) from None
            if disk_sha != base_sha and not force:
                raise ConflictError(
                    f"{self.path} was changed by someone else since it was loaded. "
                    "Reload it to see their change, or save again to keep yours."
                )
            # Never below a saved version: the history is ordered by revision.
            newest = self.history()[:1]
            top = newest[0].revision if newest else 0
            if on_disk is not None and not self._newest_in_history(on_disk):
                # Written by someone else: kept too, as the next number in the history.
                disk_revision = max(disk_revision, top + 1)
                self._keep_history(on_disk, disk_revision)
            revision = max(document.revision, disk_revision, top) + 1
            new = Document(document.entries, revision, document.timezone)
            data = new.dumps().encode("utf-8")
            self._remove_orphaned_temp_files()
            # Every saved revision is kept, the current one too: if the file is damaged
            # later, the version beat is still running can be restored. Kept first, so a
            # history that cannot be written fails the save before anything changed.
            self._keep_history(data, revision)
            atomic_write(self.path, data)
        return Loaded(new, sha256(data))

    def _refuse_special_file(self) -> None:
        """Before anything is created beside it (a lock, a history folder): a device, a
        FIFO or a folder at the path is refused, looked at through an open that cannot
        block, never a stat of the name that something could be swapped in after."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return  # missing, or unreadable: the read under the lock says so
        try:
            mode = os.fstat(fd).st_mode
        finally:
            os.close(fd)
        if not stat.S_ISREG(mode):
            raise ScheduleError([("", f"cannot read it: it is {kind_of(mode)}, not a file")],
                                str(self.path))

    def _newest_in_history(self, data: bytes) -> bool:
        newest = self.history()[:1]
        try:
            return bool(newest) and read_saved_bytes(newest[0].path) == data
        except OSError:
            return False

    def _revision_of(self, data: bytes, checked: bool) -> int:
        """The revision of the file on disk. A version this store loaded was checked
        then; any other is checked in full, so a damaged file is never overwritten."""
        if checked:
            try:
                revision = json.loads(data).get("revision", 0)
            except (ValueError, AttributeError):
                pass  # not what this store loaded after all: check it in full below
            else:
                return revision if isinstance(revision, int) else 0
        return schedule.loads(data.decode("utf-8"), str(self.path)).revision

    def _remove_orphaned_temp_files(self) -> None:
        """Temp files of writers that died mid-save. Saves of the file and of its history
        hold the lock this runs under, so theirs go at once (a live writer's never);
        the beat plugin writes its report and last good copy beside the file without
        that lock, so those go only once stale."""
        remove_orphaned_temp_files(self.path.parent, {self.path.name}, older_than=0)
        remove_orphaned_temp_files(history_dir(self.path), None, older_than=0)
        plugin_files = {beat_report.report_path(self.path).name,
                        beat_report.last_good_path(self.path).name}
        remove_orphaned_temp_files(self.path.parent, plugin_files, older_than=STALE_AFTER)

    def _keep_history(self, data: bytes, revision: int) -> None:
        folder = history_dir(self.path)
        folder.mkdir(exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        atomic_write(folder / f"r{revision:06d}-{stamp}.json", data)
        for old in sorted(folder.glob("r*.json"))[: -self.keep or None]:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()

    def _keep_damaged(self, data: bytes) -> None:
        """A damaged file replaced by a restore is kept (never pruned) for a person."""
        folder = history_dir(self.path)
        folder.mkdir(exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        atomic_write(folder / f"damaged-{stamp}.json", data)

    def _history_files(self) -> Iterator[tuple[Path, int, datetime, str | None]]:
        """Each file named as a saved version, newest first, with what is wrong with it
        when it is not a regular file (a FIFO, a device, a link planted there)."""
        for path in sorted(history_dir(self.path).glob("r*.json"), reverse=True):
            try:
                revision = int(path.name[1:7])
                saved = datetime.strptime(path.name[8:-5], "%Y%m%dT%H%M%S.%fZ").replace(
                    tzinfo=timezone.utc)
            except ValueError:
                continue
            try:
                mode = path.lstat().st_mode
            except OSError:
                continue  # gone meanwhile
            problem = None if stat.S_ISREG(mode) else f"it is {kind_of(mode)}, not a file"
            yield path, revision, saved, problem

    def history(self) -> list[HistoryItem]:
        """Every saved version (the current one first when this store wrote it), newest
        first. Anything but a regular file in the history folder is left out (see
        `unusable_history`)."""
        return [HistoryItem(path, revision, saved)
                for path, revision, saved, problem in self._history_files()
                if problem is None]

    def unusable_history(self) -> list[tuple[Path, str]]:
        """The names in the history folder that are not saved versions one can read (a
        FIFO, a device, a symbolic link), and what each is: left alone, and said."""
        return [(path, problem) for path, _, _, problem in self._history_files()
                if problem is not None]

    def restore(self, item: HistoryItem) -> Loaded:
        """Make an earlier version the current one (as a new revision)."""
        try:
            data = read_saved_bytes(item.path)
        except OSError as exc:
            raise ScheduleError([("revision", f"saved version {item.revision} cannot be "
                                              f"read: {exc.strerror}")],
                                str(item.path)) from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScheduleError([("", f"not UTF-8 text (byte {exc.start})")],
                                str(item.path)) from None
        old = schedule.loads(text, str(item.path))
        return self.save(old, self.current_sha(), force=True, replace_damaged=True)


def read_saved_bytes(path: Path) -> bytes:
    """A saved version's bytes: a regular file in the history folder itself (a link
    planted there is not followed, a FIFO never waited on), at most MAX_FILE_BYTES."""
    return read_regular(path, limit=MAX_FILE_BYTES, follow=False)
