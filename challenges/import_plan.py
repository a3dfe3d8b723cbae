"""Which files of an upload (a folder, a zip or a single file) make which case.

- A file at the top of the upload is one case; its id is the file name without the extension.
- A sub-folder is one case named after the folder; every file under it (at any depth) belongs to
  it: one DICOM series or study (`challenges.services_import` checks that it is DICOM and one
  study).
- A zip whose top holds nothing but one folder is read from inside that folder (zip tools wrap
  a folder's files in one): to zip one series as one case, put its folder in a folder.
- Hidden files (names starting with ".") are skipped; symlinks in a folder are skipped; a zip
  entry that climbs out of the archive ("..", an absolute path) or is encrypted refuses the upload.

`import_plan(path)` only lists names; `read_member(path, member)` reads one file (a worker reads
the files of its batch itself, from the same path). Nothing here touches the database.
"""

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.utils.translation import gettext as _

from challenges.errors import ImportRejected

CASE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_IMPORT_FILE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class CasePlan:
    case_id: str
    folder: bool  # a sub-folder of files (a series or study), not one top-level file
    members: tuple[str, ...]  # zip entry names, or paths relative to the folder

    def as_task_arg(self) -> list:
        return [self.case_id, self.folder, list(self.members)]

    @classmethod
    def from_task_arg(cls, value: list) -> "CasePlan":
        return cls(case_id=str(value[0]), folder=bool(value[1]),
                   members=tuple(str(m) for m in value[2]))


def _too_large(name: str) -> ImportRejected:
    return ImportRejected("too_large", _("%(name)s is too large.") % {"name": name[:80]})


def _check_info(info: zipfile.ZipInfo) -> None:
    name = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
    if info.file_size > MAX_IMPORT_FILE_BYTES:
        raise _too_large(name)
    if info.flag_bits & 0x1:
        raise ImportRejected("encrypted", _("%(name)s is encrypted; send it without a "
                                            "password.") % {"name": name[:80]})


def _entries(path: Path) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(member, its path parts) for every file of the upload."""
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()):
            relative = child.relative_to(path).as_posix()
            if child.stat().st_size > MAX_IMPORT_FILE_BYTES:
                raise _too_large(child.name)
            yield relative, PurePosixPath(relative).parts
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                parts = tuple(p for p in info.filename.replace("\\", "/").split("/")
                              if p not in ("", "."))
                if info.filename.startswith(("/", "\\")) or ".." in parts or not parts:
                    raise ImportRejected("unsafe_path", _(
                        "%(name)s points outside the archive; the zip was refused.")
                        % {"name": info.filename[:80]})
                _check_info(info)
                yield info.filename, parts
    elif path.is_file():
        if path.stat().st_size > MAX_IMPORT_FILE_BYTES:
            raise _too_large(path.name)
        yield "", (path.name,)
    else:
        raise ImportRejected("not_found", _("Nothing to import at %(path)s.") % {"path": path})


def import_plan(path: Path) -> list[CasePlan]:
    """The cases of the upload at `path`, in case-id order; refuses names that are not case ids
    and case ids that occur twice, listing every such problem."""
    entries = [(m, parts) for m, parts in _entries(path)
               if not any(p.startswith(".") for p in parts)]
    tops = {parts[0] for _member, parts in entries}
    if (not path.is_dir() and len(tops) == 1
            and all(len(parts) > 1 for _member, parts in entries)):
        entries = [(m, parts[1:]) for m, parts in entries]  # one wrapping folder
    groups: dict[str, list[str]] = {}
    folders: set[str] = set()
    problems: list[str] = []
    for member, parts in entries:
        if len(parts) == 1:
            case_id = PurePosixPath(parts[0]).stem
            if case_id in groups:
                problems.append(_("%(case)s: two files for one case") % {"case": case_id[:64]})
                continue
        else:
            case_id = parts[0]
            if case_id in groups and case_id not in folders:
                problems.append(_("%(case)s: both a file and a folder") % {"case": case_id[:64]})
                continue
            folders.add(case_id)
        if not CASE_ID_RE.match(case_id):
            problems.append(_("%(name)s: the name is not a valid case id") % {
                "name": "/".join(parts[:2])[:80]})
            continue
        groups.setdefault(case_id, []).append(member)
    if problems:
        raise ImportRejected("files_rejected", "; ".join(problems[:20]))
    if not groups:
        raise ImportRejected("empty", _("No case files were found."))
    return [CasePlan(case_id=case_id, folder=case_id in folders, members=tuple(members))
            for case_id, members in sorted(groups.items())]


class UploadReader:
    """Reads members of one upload; use as a context manager (a zip stays open meanwhile)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.archive: zipfile.ZipFile | None = None

    def __enter__(self) -> "UploadReader":
        if not self.path.is_dir() and zipfile.is_zipfile(self.path):
            self.archive = zipfile.ZipFile(self.path)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.archive is not None:
            self.archive.close()

    def read(self, member: str) -> bytes:
        """The bytes of `member` (a name from `import_plan`), refused when too large, encrypted,
        a symlink or outside the upload."""
        if self.archive is not None:
            info = self.archive.getinfo(member)
            _check_info(info)
            return self.archive.read(info)
        if not self.path.is_dir():
            target = self.path
        else:
            target = self.path / member
            root = self.path.resolve()
            if target.is_symlink() or root not in target.resolve().parents:
                raise ImportRejected("unsafe_path", _("%(name)s is not a file of the upload.")
                                     % {"name": member[:80]})
        if target.stat().st_size > MAX_IMPORT_FILE_BYTES:
            raise _too_large(member or target.name)
        return target.read_bytes()
