"""Atomic writes: a new file follows the person's umask (a beat running as a service user
must be able to read a schedule someone saved); an existing file keeps its mode and owner."""

import os
import pwd
import stat
import subprocess
import sys

import pytest

from beat_panel.files.atomic import atomic_write, current_umask


def write_with_umask(path, umask: int) -> None:
    code = ("import os, sys; from pathlib import Path; from beat_panel.files.atomic import "
            f"atomic_write; os.umask({umask}); atomic_write(Path(sys.argv[1]), b'x')")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=30)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600),
                                             (0o027, 0o640)])
def test_a_new_file_gets_the_mode_the_umask_gives(tmp_path, umask, mode):
    path = tmp_path / "schedule.json"
    write_with_umask(path, umask)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert path.read_bytes() == b"x"


def test_an_existing_file_keeps_its_mode_whatever_the_umask(tmp_path):
    path = tmp_path / "schedule.json"
    path.write_bytes(b"old")
    path.chmod(0o640)
    write_with_umask(path, 0o077)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and path.read_bytes() == b"x"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_root_saving_another_users_file_gives_it_back_to_them(tmp_path):
    nobody = pwd.getpwnam("nobody")
    path = tmp_path / "schedule.json"
    path.write_bytes(b"old")
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
    atomic_write(path, b"new")
    info = path.stat()
    assert (info.st_uid, info.st_gid) == (nobody.pw_uid, nobody.pw_gid)
    assert path.read_bytes() == b"new"


def test_the_umask_is_read_without_changing_it():
    before = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        assert current_umask() == 0o027
    finally:
        os.umask(before)
