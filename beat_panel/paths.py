"""Where Beat Panel keeps things: the user's config, data and state folders (XDG), the
resources it ships, and the folder that lets a beat import the panel's scheduler."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import sys
from pathlib import Path

APP_DIR_NAME = "beat-panel"


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable, "")
    # The XDG spec says relative values are invalid and must be ignored.
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def config_dir() -> Path:
    """The folder of the user's `beat-panel.toml` (~/.config/beat-panel)."""
    return _xdg("XDG_CONFIG_HOME", ".config") / APP_DIR_NAME


def data_dir() -> Path:
    """Beat Panel's data folder (~/.local/share/beat-panel): the demo project, history."""
    return _xdg("XDG_DATA_HOME", ".local/share") / APP_DIR_NAME


def state_dir() -> Path:
    """Beat Panel's state folder (~/.local/state/beat-panel): locks, action markers."""
    return _xdg("XDG_STATE_HOME", ".local/state") / APP_DIR_NAME


def _package_dir() -> Path:
    """This package's folder: beside this file, or inside a frozen bundle."""
    if getattr(sys, "frozen", False):
        return Path(sys._MEIPASS) / "beat_panel"  # type: ignore[attr-defined]
    return Path(__file__).resolve().parent


def resource(name: str) -> Path:
    """The file `name` (e.g. "icons/beat-panel.svg", "start_celery_beat.sh") among the
    panel's resources, found the same way in a checkout, an installed wheel and a frozen
    bundle.

    They live in `beat_panel/resources/`: in a checkout that is a link to the top-level
    `resources/` folder (whose `start_celery_beat.sh` links to the script at the top), a
    wheel carries them as package data, and a PyInstaller bundle must put them in
    `beat_panel/resources/` under its own folder (`sys._MEIPASS`). The path is returned
    with links resolved; it does not exist only when the package was built without them.
    """
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"a resource name is a path inside resources/, not {name!r}")
    return (_package_dir() / "resources" / relative).resolve()


def package_home() -> Path:
    """The folder the panel's package is in: a checkout's root, or the site-packages of
    the panel's environment. Nothing else in it belongs on a beat's path."""
    return _package_dir().parent


PYTHONPATH_DIR_NAME = "pythonpath"
_LINK_NAME = "beat_panel"


def plugin_import_dir() -> Path:
    """A folder to put on a beat's PYTHONPATH so that a project's own environment can
    import the panel's scheduler (`beat_panel.plugin`) without installing Beat Panel.

    It holds nothing but a link named `beat_panel` to this package, so nothing beside the
    package (a checkout's `tests/`, `bench/` and `packaging/`, or the rest of the panel's
    site-packages or dist-packages) can shadow the project's own modules. Each install of
    the panel has its own folder in the state folder, so two installs never fight over the
    link; a wrong link, a file or folder in the way, or strays are replaced, atomically,
    so that two panels doing this at once both end with the right link.
    """
    package = _package_dir()
    digest = hashlib.sha256(str(package).encode()).hexdigest()[:12]
    parent = state_dir() / PYTHONPATH_DIR_NAME
    folder = parent / digest
    _make_real_dir(parent)
    _make_real_dir(folder)
    link = folder / _LINK_NAME
    attempts = 0
    while not _links_to(link, package):
        attempts += 1
        if attempts > 5:  # something keeps changing it: say so rather than loop
            raise OSError(f"could not link {link} to {package}")
        _replace_with_link(link, package)
    _remove_strays(folder)
    _forget_moved_installs(parent, keep=folder)
    return folder


def _links_to(link: Path, target: Path) -> bool:
    try:
        return os.readlink(link) == str(target)
    except OSError:  # missing, or not a link
        return False


def _make_real_dir(path: Path) -> None:
    """Make `path` a real folder: a file or link in its place is removed first."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    path.mkdir(parents=True, exist_ok=True)


def _temp_name(folder: Path, what: str) -> Path:
    # Names that start with a dot are never importable, so a leftover cannot shadow.
    return folder / f".{what}.{os.getpid()}.{secrets.token_hex(4)}"


def _replace_with_link(link: Path, target: Path) -> None:
    """Point `link` at `target` in one rename: a new link under a temporary name first."""
    temp = _temp_name(link.parent, "link")
    os.symlink(target, temp, target_is_directory=True)
    try:
        try:
            os.replace(temp, link)
        except OSError as error:
            if error.errno not in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
                raise
            # A real folder is in the way: move it aside (another panel may have), drop it.
            aside = _temp_name(link.parent, "stale")
            with contextlib.suppress(FileNotFoundError):
                os.rename(link, aside)
            _remove(aside)
            os.replace(temp, link)
    finally:
        if temp.is_symlink():
            temp.unlink()


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()


def _remove_strays(folder: Path) -> None:
    """Remove whatever else became importable from the folder (only the link belongs)."""
    for entry in folder.iterdir():
        if entry.name != _LINK_NAME and not entry.name.startswith("."):
            _remove(entry)


def _forget_moved_installs(parent: Path, keep: Path) -> None:
    """Drop the folders of installs that are gone (a checkout that moved): their link
    leads nowhere, so no beat can be importing through them."""
    for folder in parent.iterdir():
        link = folder / _LINK_NAME
        if folder != keep and link.is_symlink() and not link.exists():
            _remove(folder)


if __name__ == "__main__":
    # `python3 -I beat_panel/paths.py plugin-import-dir`: how start_celery_beat.sh finds
    # the same folder with any Python, without importing the package.
    if sys.argv[1:] != ["plugin-import-dir"]:
        sys.exit("usage: paths.py plugin-import-dir")
    print(plugin_import_dir())
