"""Running server commands as an unprivileged user.

PostgreSQL refuses to run as root. Contract:

* :func:`server_user` is the current user when not root; as root it is the ``postgres``
  system user if it exists, otherwise a ``lienthong`` system user created with
  ``useradd --system``.
* :func:`run` runs a command as that user (uid, gid and no supplementary groups) with a
  small, predictable environment, returning the completed process.
* :func:`can_reach` tells whether that user can enter a directory (every parent traversable).
* :func:`give` makes a path owned by that user (a no-op when not root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

SYSTEM_USER = "lienthong"


@dataclass(frozen=True)
class ServerUser:
    """An OS account; ``switch`` is true when commands must change to it (we are root)."""

    name: str
    uid: int
    gid: int
    home: str
    switch: bool


def _account(entry: pwd.struct_passwd, switch: bool) -> ServerUser:
    return ServerUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir, switch)


@overload
def server_user() -> ServerUser: ...
@overload
def server_user(*, create: bool) -> ServerUser | None: ...


def server_user(*, create: bool = True) -> ServerUser | None:
    """The account server processes run as; created when missing if ``create`` (else None)."""
    if os.geteuid() != 0:
        return _account(pwd.getpwuid(os.geteuid()), switch=False)
    for name in ("postgres", SYSTEM_USER):
        try:
            return _account(pwd.getpwnam(name), switch=True)
        except KeyError:
            continue
    if not create:
        return None
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    subprocess.run([useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                    "--shell", "/usr/sbin/nologin", SYSTEM_USER], check=True, capture_output=True)
    return _account(pwd.getpwnam(SYSTEM_USER), switch=True)


def run(user: ServerUser, command: Sequence[str], *, cwd: Path | None = None,
        check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as ``user``, capturing its output as text."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "HOME": user.home, "USER": user.name, "LOGNAME": user.name}
    if "TZ" in os.environ:
        env["TZ"] = os.environ["TZ"]
    if user.switch:
        return subprocess.run(list(command), cwd=cwd, env=env, capture_output=True, text=True, check=check,
                              user=user.uid, group=user.gid, extra_groups=[])
    return subprocess.run(list(command), cwd=cwd, env=env, capture_output=True, text=True, check=check)


def can_reach(user: ServerUser, directory: Path) -> bool:
    """Whether ``user`` can enter ``directory`` (it and all its parents are traversable)."""
    if not user.switch:
        return os.access(directory, os.X_OK)
    return run(user, ["test", "-x", str(directory)], cwd=Path("/")).returncode == 0


def give(user: ServerUser, path: Path) -> None:
    """Make ``path`` owned by ``user``."""
    if user.switch:
        os.chown(path, user.uid, user.gid)
