"""Validate a `docker save` tarball before anything loads it.

`inspect_image_tarball` (a file) and `inspect_image_stream` (any readable stream, read once to its
end, so that a caller can hash and store the bytes as they pass) read the archive once, as a
stream (`.tar`, `.tar.gz`), never extract to disk and never hold a layer in memory: only small
JSON members (manifest, configs) are kept. They accept the legacy layout (docker <= 24:
`<id>.json`, `<layer>/layer.tar`) and the OCI layout (docker >= 25: `index.json`,
`blobs/sha256/<hex>`), and raise `ImageRejected` unless the archive holds exactly one
linux/amd64 image with a non-root user, within the size cap, without path tricks.
`ImageInfo.image_id` is the docker image ID (sha256 of the config JSON); `size_bytes` is the size of
the uncompressed archive, which `max_bytes` caps (as it caps the file or stream itself).
"""

import bz2
import gzip
import hashlib
import json
import lzma
import posixpath
import re
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, cast

from django.utils.translation import gettext as _

from sandbox.errors import ImageRejected

_READ_BUFFER = 1024 * 1024
_METADATA_MAX_BYTES = 4 * 1024 * 1024  # one manifest or config JSON
_METADATA_TOTAL_BYTES = 32 * 1024 * 1024  # all JSON members kept in memory together
_HEX_DIGEST = re.compile(r"(?:^|/)(?:sha256/)?([0-9a-f]{64})(?:\.json)?$")
_HEAD_BYTES = 10  # enough to tell gzip, bzip2 and xz apart from a plain tar


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


@dataclass(frozen=True)
class ImageInfo:
    image_id: str
    user: str
    architecture: str
    os: str
    repo_tags: list[str]
    size_bytes: int
    compressed: bool


def is_root_user(user: str) -> bool:
    """True when a docker `USER` value runs as root: empty, `root`, uid 0 (any group)."""
    name = user.strip().split(":", 1)[0].strip()
    if name in ("", "root"):
        return True
    try:
        return int(name) <= 0
    except ValueError:
        return False


def inspect_image_tarball(path: Path, *, max_bytes: int) -> ImageInfo:
    if path.stat().st_size > max_bytes:
        raise _too_large(max_bytes)
    with path.open("rb") as raw:
        return inspect_image_stream(raw, max_bytes=max_bytes)


def inspect_image_stream(
    fileobj: Readable, *, max_bytes: int, copy_to: Writable | None = None
) -> ImageInfo:
    """Validate a tarball read from `fileobj` once, front to back, to its end (no seeking).

    Callers may hash the upload as it is read: every byte passes through one `fileobj.read`
    call. `copy_to` receives the uncompressed archive as it is read (for a compressed upload,
    what `docker load` reads without decompressing it again). `max_bytes` caps the stream and
    the uncompressed archive, so a decompression bomb stops at the cap.
    """
    raw = _CappedReader(fileobj, max_bytes)
    compression = _compression_of(raw.peek(_HEAD_BYTES))
    archive = raw if compression is None else _CappedReader(compression(raw), max_bytes)
    archive.copy_to = copy_to
    scan = _scan_archive(archive, max_bytes)
    return _image_info(scan, compressed=compression is not None)


def _compression_of(head: bytes) -> Callable[[Readable], Readable] | None:
    """The decompressor for a stream beginning with `head` (tarfile's own tests), or None."""
    if head.startswith(b"\x1f\x8b\x08"):
        return lambda raw: gzip.GzipFile(fileobj=cast(IO[bytes], raw), mode="rb")
    if head[:3] == b"BZh" and head[4:10] == b"1AY&SY":
        return lambda raw: bz2.BZ2File(cast(IO[bytes], raw), mode="rb")
    if head.startswith((b"\x5d\x00\x00\x80", b"\xfd7zXZ")):
        return lambda raw: lzma.LZMAFile(cast(IO[bytes], raw), mode="rb")
    return None


def _image_info(scan: "_Scan", compressed: bool) -> ImageInfo:
    entry = _single_manifest_entry(scan)
    config_name, config_bytes = _config_of(entry, scan)
    _check_layers(entry, scan)
    config = _parse_json(config_bytes, _("The image configuration is not valid JSON."))
    if not isinstance(config, dict):
        raise ImageRejected("bad_manifest", _("The image configuration is not a JSON object."))
    user = _check_config(config, layer_count=len(entry["Layers"]))
    digest = hashlib.sha256(config_bytes).hexdigest()
    named = _HEX_DIGEST.search(config_name)
    if named and named.group(1) != digest:
        raise ImageRejected("bad_manifest", _("The image configuration does not match its digest."))
    return ImageInfo(
        image_id=f"sha256:{digest}",
        user=user,
        architecture=config["architecture"],
        os=config["os"],
        repo_tags=_repo_tags(entry),
        size_bytes=scan.size_bytes,
        compressed=compressed,
    )


class _CappedReader:
    """Reads `fileobj` forward, counting bytes against `max_bytes` and copying them to `copy_to`;
    `peek` looks ahead without losing what it read."""

    def __init__(self, fileobj: Readable, max_bytes: int) -> None:
        self._fileobj = fileobj
        self._max_bytes = max_bytes
        self._count = 0
        self._pending = b""
        self.copy_to: Writable | None = None

    def peek(self, size: int) -> bytes:
        while len(self._pending) < size and (more := self._counted(size - len(self._pending))):
            self._pending += more
        return self._pending[:size]

    def read(self, size: int = -1) -> bytes:
        if self._pending:
            chunk = self._pending if size < 0 else self._pending[:size]
            self._pending = self._pending[len(chunk) :]
        else:
            chunk = self._counted(size if size > 0 else _READ_BUFFER)
        if self.copy_to is not None:
            self.copy_to.write(chunk)
        return chunk

    def drain(self) -> None:
        """Read what follows the archive's end (padding), so the whole stream is seen."""
        while self.read(_READ_BUFFER):
            pass

    def _counted(self, size: int) -> bytes:
        chunk = self._fileobj.read(size)
        self._count += len(chunk)
        if self._count > self._max_bytes:
            raise _too_large(self._max_bytes)
        return chunk


@dataclass
class _Scan:
    """What one pass over the archive learnt: member kinds, link targets, small JSON members."""

    kinds: dict[str, str] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)
    metadata: dict[str, bytes] = field(default_factory=dict)
    metadata_bytes: int = 0
    size_bytes: int = 0


def _scan_archive(reader: _CappedReader, max_bytes: int) -> _Scan:
    """Read the (uncompressed) archive to its end, member by member."""
    scan = _Scan()
    try:
        stream = cast(IO[bytes], reader)  # stream mode ("r|") only ever calls read()
        with tarfile.open(fileobj=stream, mode="r|", bufsize=_READ_BUFFER) as archive:
            for member in archive:
                _check_member(member, scan, max_bytes)
                if member.isreg() and _may_be_metadata(member):
                    _keep_metadata(archive, member, scan)
        reader.drain()
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
        raise ImageRejected(
            "not_an_image", _("The file is not a readable tar archive (.tar or .tar.gz).")
        ) from exc
    if not scan.kinds:
        raise ImageRejected("not_an_image", _("The archive is empty."))
    for name, target in scan.links:
        if target not in scan.kinds:
            raise _unsafe(_("The link %(name)s points outside the archive.") % _shown(name))
    return scan


def _check_member(member: tarfile.TarInfo, scan: _Scan, max_bytes: int) -> None:
    end = member.offset_data + member.size
    if end > max_bytes:
        raise _too_large(max_bytes)
    scan.size_bytes = max(scan.size_bytes, end)
    name = _safe_name(member.name)
    if name in scan.kinds:
        raise _unsafe(_("The archive contains %(name)s twice.") % _shown(name))
    if member.issym():
        scan.links.append((name, _symlink_target(name, member.linkname)))
    elif member.islnk():
        scan.links.append((name, _safe_name(member.linkname)))
    elif not (member.isreg() or member.isdir()):
        raise _unsafe(
            _("The archive contains %(name)s, a device, FIFO or other special file.") % _shown(name)
        )
    scan.kinds[name] = "dir" if member.isdir() else "file"


def _safe_name(name: str) -> str:
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        raise _unsafe(_("The archive contains the unsafe path %(name)s.") % _shown(name))
    normal = posixpath.normpath(name)
    if normal == ".." or normal.startswith("../") or ".." in name.split("/"):
        raise _unsafe(_("The archive contains the unsafe path %(name)s.") % _shown(name))
    return normal


def _symlink_target(name: str, target: str) -> str:
    if not target or target.startswith("/"):
        raise _unsafe(_("The link %(name)s points outside the archive.") % _shown(name))
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if resolved == ".." or resolved.startswith("../"):
        raise _unsafe(_("The link %(name)s points outside the archive.") % _shown(name))
    return resolved


def _may_be_metadata(member: tarfile.TarInfo) -> bool:
    name = posixpath.normpath(member.name)
    if member.size > _METADATA_MAX_BYTES:
        return False
    return name.endswith(".json") or name.startswith("blobs/") or "/" not in name


def _keep_metadata(archive: tarfile.TarFile, member: tarfile.TarInfo, scan: _Scan) -> None:
    """Keep a small member that looks like JSON (layers begin with a tar header or gzip magic)."""
    reader = archive.extractfile(member)
    if reader is None:
        return
    head = reader.read(1)
    if head.lstrip() not in (b"{", b"["):
        return
    scan.metadata_bytes += member.size
    if scan.metadata_bytes > _METADATA_TOTAL_BYTES:
        raise ImageRejected("bad_manifest", _("The archive holds too many metadata files."))
    scan.metadata[posixpath.normpath(member.name)] = head + reader.read()


def _single_manifest_entry(scan: _Scan) -> dict[str, Any]:
    raw = scan.metadata.get("manifest.json")
    if raw is None:
        raise ImageRejected(
            "not_an_image",
            _("The archive has no manifest.json: upload the output of `docker save`."),
        )
    manifest = _parse_json(raw, _("manifest.json is not valid JSON."))
    if not isinstance(manifest, list) or not manifest:
        raise ImageRejected("bad_manifest", _("manifest.json lists no image."))
    count = max(len(manifest), _oci_index_images(scan))
    if count > 1:
        raise ImageRejected(
            "multiple_images",
            _("The archive holds %(count)d images; save exactly one image per tarball.")
            % {"count": count},
        )
    entry = manifest[0]
    if not (
        isinstance(entry, dict)
        and isinstance(entry.get("Config"), str)
        and isinstance(entry.get("Layers"), list)
        and all(isinstance(layer, str) for layer in entry["Layers"])
    ):
        raise ImageRejected("bad_manifest", _("manifest.json does not describe an image."))
    return entry


def _oci_index_images(scan: _Scan) -> int:
    """Distinct images listed by an OCI index.json (one per digest; tags may repeat one)."""
    raw = scan.metadata.get("index.json")
    if raw is None:
        return 0
    index = _parse_json(raw, _("index.json is not valid JSON."))
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list):
        raise ImageRejected("bad_manifest", _("index.json lists no image."))
    return len({str(item.get("digest")) for item in manifests if isinstance(item, dict)})


def _config_of(entry: dict[str, Any], scan: _Scan) -> tuple[str, bytes]:
    name = _safe_name(entry["Config"])
    config = scan.metadata.get(name)
    if config is None:
        raise ImageRejected(
            "bad_manifest", _("The image configuration named in manifest.json is missing.")
        )
    return name, config


MAX_LAYERS = 127  # docker's own limit on overlay layers


def _check_layers(entry: dict[str, Any], scan: _Scan) -> None:
    if len(entry["Layers"]) > MAX_LAYERS:
        raise ImageRejected(
            "too_many_layers",
            _("The image has more than %(max)d layers; squash some of them.") % {"max": MAX_LAYERS},
        )
    for layer in entry["Layers"]:
        if scan.kinds.get(_safe_name(layer)) != "file":
            raise ImageRejected(
                "bad_manifest",
                _("The layer %(name)s named in manifest.json is missing.") % _shown(layer),
            )


def _check_config(config: dict[str, Any], *, layer_count: int) -> str:
    if config.get("os") != "linux" or config.get("architecture") != "amd64":
        raise ImageRejected(
            "wrong_platform",
            _("The image is for %(platform)s; Enclave runs linux/amd64 images only.")
            % {"platform": f"{config.get('os')}/{config.get('architecture')}"[:40]},
        )
    runtime = config.get("config") or {}
    user = runtime.get("User") if isinstance(runtime, dict) else None
    if not isinstance(user, str) or is_root_user(user):
        raise ImageRejected(
            "root_user",
            _("The image runs as root. Add a non-root USER to the Dockerfile (e.g. USER 1000)."),
        )
    volumes = runtime.get("Volumes") if isinstance(runtime, dict) else None
    for volume in volumes or {}:
        path = "/" + str(volume).strip("/")
        if path.startswith(("/input/", "/output/")):
            raise ImageRejected(
                "unsafe_volume",
                _("The image declares a VOLUME inside /input or /output; remove it."),
            )
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or len(diff_ids) != layer_count:
        raise ImageRejected(
            "bad_manifest", _("The image configuration does not match its list of layers.")
        )
    return user.strip()


def _repo_tags(entry: dict[str, Any]) -> list[str]:
    tags = entry.get("RepoTags") or []
    if not isinstance(tags, list):
        return []
    return [tag for tag in tags if isinstance(tag, str)][:100]


def _parse_json(raw: bytes, message: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ImageRejected("bad_manifest", message) from exc


def _shown(name: str) -> dict[str, str]:
    """A member name as quoted in a message: printable, at most 80 characters."""
    printable = name.encode("unicode_escape").decode("ascii")
    return {"name": repr(printable[:77] + "..." if len(printable) > 80 else printable)}


def _unsafe(message: str) -> ImageRejected:
    return ImageRejected("unsafe_path", message)


def _too_large(max_bytes: int) -> ImageRejected:
    return ImageRejected(
        "too_large",
        _("The image is larger than the limit of %(limit)s MiB.")
        % {"limit": max_bytes // (1024 * 1024)},
    )
