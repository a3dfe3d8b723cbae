"""The host directory a run's /output is bound to, and collecting from it.

`OutputArea(work_root, limits)` is a context manager: it makes a private directory under the work
root and mounts a tmpfs of `limits.output_mb` (and `output_files` inodes) on it, so a container
cannot fill the host however it writes. The tmpfs needs root; without it (or if mount fails) the
area is a plain directory and the caps are enforced only at collection (a warning is logged).
`collect_into(dest)` copies the files out under `sandbox.collection`'s rules and unmounts. If the
engine turns out not to share our mount namespace (its writes landed beneath the tmpfs), the files
are collected from the plain directory instead and tmpfs is not used again in this process.
"""

import ctypes
import ctypes.util
import logging
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from sandbox.collection import collect_outputs, empty_directory
from sandbox.limits import RunLimits

logger = logging.getLogger(__name__)

_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8
_MNT_DETACH = 2


def area_prefix(node: str) -> str:
    """Output areas are named after their node, so that a restarted node reaps only its own."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in node)[:64]
    return f"enclave-run-{safe}-" if safe else "enclave-run-"


def reap_areas(work_root: Path, node: str) -> int:
    """Unmount and delete the output areas a dead run of `node` left behind; returns how many.
    Only for a node that runs nothing (its worker is starting)."""
    prefix = area_prefix(node)
    areas = [p for p in work_root.glob(f"{prefix}*") if p.is_dir()] if work_root.is_dir() else []
    with open("/proc/mounts") as mounts:
        mounted = {line.split()[1] for line in mounts}
    for area in areas:
        output = area / "output"
        if str(output) in mounted:
            _libc().umount2(os.fsencode(output), _MNT_DETACH)
        shutil.rmtree(area, ignore_errors=True)
    return len(areas)


class OutputArea:
    use_tmpfs = True  # turned off for the process when mounts prove invisible to the engine

    def __init__(self, work_root: Path, limits: RunLimits, *, node: str = "") -> None:
        self.work_root = work_root
        self.limits = limits
        self.prefix = area_prefix(node)
        self.mounted = False
        self._parent: Path | None = None

    @property
    def path(self) -> Path:
        if self._parent is None:
            raise RuntimeError("OutputArea used outside its `with` block")
        return self._parent / "output"

    def __enter__(self) -> "OutputArea":
        self.work_root.mkdir(parents=True, exist_ok=True)
        self._parent = Path(tempfile.mkdtemp(prefix=self.prefix, dir=self.work_root))
        self.path.mkdir()
        if OutputArea.use_tmpfs:
            self.mounted = _try_mount_tmpfs(self.path, self.limits)
        if not self.mounted:
            self.path.chmod(0o1777)  # the image's user, whatever its uid, may write
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.mounted:
            self._unmount()
        if self._parent is not None:
            shutil.rmtree(self._parent, ignore_errors=True)

    def collect_into(self, dest: Path) -> str | None:
        error = collect_outputs(self.path, dest, self.limits)
        if not self.mounted:
            return error
        self._unmount()
        if any(self.path.iterdir()):
            logger.warning(
                "sandbox: the engine does not see host mounts under %s; /output is no longer "
                "size-capped by tmpfs, only at collection",
                self.work_root,
            )
            OutputArea.use_tmpfs = False
            empty_directory(dest)
            error = collect_outputs(self.path, dest, self.limits)
        return error

    def _unmount(self) -> None:
        target = os.fsencode(self.path)
        if _libc().umount2(target, 0) != 0 and _libc().umount2(target, _MNT_DETACH) != 0:
            err = ctypes.get_errno()
            logger.error("sandbox: cannot unmount %s: %s", self.path, os.strerror(err))
        self.mounted = False


def _try_mount_tmpfs(path: Path, limits: RunLimits) -> bool:
    if os.geteuid() != 0:
        logger.warning("sandbox: not root, /output is a plain directory capped at collection only")
        return False
    options = f"size={limits.output_mb}m,nr_inodes={limits.output_files + 2},mode=1777"
    flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    if _libc().mount(b"tmpfs", os.fsencode(path), b"tmpfs", flags, options.encode()) != 0:
        err = ctypes.get_errno()
        logger.warning("sandbox: cannot mount tmpfs for /output (%s)", os.strerror(err))
        return False
    return True


_LIBC: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL:
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _LIBC
