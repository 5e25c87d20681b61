"""Building the root filesystem of a demo image as a tar archive from host files.

No registry can be reached, so every image is a busybox root filesystem plus
programs copied from the host with the shared libraries that ``ldd`` lists.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import tarfile
from collections.abc import Iterable
from pathlib import Path

from opscheck.errors import DemoError

BUSYBOX = Path("/bin/busybox")

# "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or
# "/lib64/ld-linux-x86-64.so.2 (0x...)"
_LDD_PATH = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")


class Rootfs:
    """A root filesystem written straight into a tar file, entry by entry."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tar = tarfile.open(path, "w")  # noqa: SIM115 - closed by close()
        self._names: set[str] = set()

    def close(self) -> None:
        """Finish the archive."""
        self._tar.close()

    def add_dir(self, name: str, *, uid: int = 0, mode: int = 0o755) -> None:
        """Add a directory owned by ``uid`` (its parents too, owned by root)."""
        parts = name.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            current = "/".join(parts[:depth])
            if current in self._names:
                continue
            info = tarfile.TarInfo(current)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            if depth == len(parts):
                info.uid = info.gid = uid
            self._add(info)

    def add_bytes(self, name: str, data: bytes, *, mode: int = 0o644) -> None:
        """Add a regular file with the given content."""
        self._parent(name)
        info = tarfile.TarInfo(name.strip("/"))
        info.size = len(data)
        info.mode = mode
        self._add(info, io.BytesIO(data))

    def add_symlink(self, name: str, target: str) -> None:
        """Add a symbolic link."""
        self._parent(name)
        info = tarfile.TarInfo(name.strip("/"))
        info.type = tarfile.SYMTYPE
        info.linkname = target
        self._add(info)

    def add_file(self, source: Path, name: str | None = None) -> None:
        """Add a host file under ``name`` (default: its own path), links followed."""
        arcname = (name or str(source)).strip("/")
        if arcname in self._names:
            return
        self._parent(arcname)
        real = os.path.realpath(source)
        info = self._tar.gettarinfo(real, arcname)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        with open(real, "rb") as handle:
            self._add(info, handle)

    def add_tree(self, source: Path, *, exclude: Iterable[str] = ()) -> None:
        """Add a host folder at its own path, skipping entries named in ``exclude``."""
        skipped = set(exclude)
        for folder, dirs, files in os.walk(source):
            dirs[:] = sorted(name for name in dirs if name not in skipped)
            self.add_dir(folder)
            for name in sorted(files):
                if name not in skipped and not any(name.startswith(s) for s in skipped):
                    self.add_file(Path(folder, name))

    def add_busybox(self, users: str, groups: str) -> None:
        """Add busybox with one symlink per applet, /etc/passwd and /etc/group."""
        self.add_file(BUSYBOX, "bin/busybox")
        applets = _run(str(BUSYBOX), "--list").split()
        for applet in applets:
            if applet != "busybox":
                self.add_symlink(f"bin/{applet}", "busybox")
        self.add_bytes("etc/passwd", users.encode())
        self.add_bytes("etc/group", groups.encode())
        self.add_dir("tmp", mode=0o1777)

    def add_programs(self, programs: Iterable[Path]) -> None:
        """Add programs or modules with every shared library that ldd lists for them."""
        for program in programs:
            self.add_file(program)
            for library in shared_libraries(program):
                if not library.name.startswith("libLLVM"):
                    self.add_file(library)

    def _parent(self, name: str) -> None:
        parent = os.path.dirname(name.strip("/"))
        if parent:
            self.add_dir(parent)

    def _add(self, info: tarfile.TarInfo, data: io.IOBase | None = None) -> None:
        self._names.add(info.name)
        self._tar.addfile(info, data)


def shared_libraries(program: Path) -> list[Path]:
    """Return the shared libraries that ldd lists for a program or module."""
    result = subprocess.run(
        ["ldd", str(program)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        # ldd exits 1 for a file that is not dynamically linked: it needs nothing.
        return []
    return [Path(match) for match in _LDD_PATH.findall(result.stdout)]


def _run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DemoError(
            f"{' '.join(command)} failed with status {result.returncode}: "
            f"{result.stderr.strip()[-500:]}"
        )
    return result.stdout
