"""Hand-made `docker save` tarballs, in the legacy (docker <= 24) and OCI (docker >= 25) layouts.

The images are real: one layer holding /hello.txt, loadable by `docker load`; `image_id` is what
docker reports for them. Keyword arguments bend them into the broken archives the tests need.
"""

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def layer_tar(files: dict[str, bytes] | None = None) -> bytes:
    files = files or {"hello.txt": b"hello\n"}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as layer:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            layer.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def image_config(
    *, user: str = "1000", os: str = "linux", architecture: str = "amd64", layers: list[bytes],
    volumes: tuple[str, ...] = (),
) -> dict[str, Any]:
    runtime: dict[str, Any] = {"User": user, "Cmd": ["/hello"], "Env": ["PATH=/usr/bin:/bin"]}
    if volumes:
        runtime["Volumes"] = {volume: {} for volume in volumes}
    return {
        "architecture": architecture,
        "os": os,
        "config": runtime,
        "rootfs": {
            "type": "layers",
            "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}" for layer in layers],
        },
        "history": [{"created_by": "tests"}],
    }


@dataclass
class Tarball:
    """Members to write, in order: (TarInfo, content or None)."""

    members: list[tuple[tarfile.TarInfo, bytes | None]] = field(default_factory=list)
    image_id: str = ""

    def add_file(self, name: str, content: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mode = 0o644
        self.members.append((info, content))

    def add_dir(self, name: str) -> None:
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        self.members.append((info, None))

    def add_special(self, name: str, kind: bytes, linkname: str = "") -> None:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = linkname
        self.members.append((info, None))

    def write(self, path: Path, *, gz: bool = False) -> Path:
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
            for info, content in self.members:
                archive.addfile(info, io.BytesIO(content) if content is not None else None)
        data = gzip.compress(raw.getvalue(), compresslevel=1) if gz else raw.getvalue()
        path.write_bytes(data)
        return path


def legacy_tarball(
    *, images: int = 1, tag: str = "enclave-test/handmade:legacy", layers: int = 1,
    **config_kw: Any
) -> Tarball:
    tarball = Tarball()
    entries = []
    for index in range(images):
        layer = layer_tar({"hello.txt": f"hello {index}\n".encode()})
        layer_id = hashlib.sha256(layer).hexdigest()
        config = json.dumps(image_config(layers=[layer] * layers, **config_kw)).encode()
        config_id = hashlib.sha256(config).hexdigest()
        tarball.add_dir(f"{layer_id}/")
        tarball.add_file(f"{layer_id}/VERSION", b"1.0")
        tarball.add_file(f"{layer_id}/json", json.dumps({"id": layer_id}).encode())
        tarball.add_file(f"{layer_id}/layer.tar", layer)
        tarball.add_file(f"{config_id}.json", config)
        entries.append(
            {"Config": f"{config_id}.json", "RepoTags": [tag],
             "Layers": [f"{layer_id}/layer.tar"] * layers}
        )
        tarball.image_id = tarball.image_id or f"sha256:{config_id}"
    tarball.add_file("manifest.json", json.dumps(entries).encode())
    return tarball


def oci_tarball(*, tag: str = "enclave-test/handmade:oci", **config_kw: Any) -> Tarball:
    tarball = Tarball()
    layer = layer_tar()
    config = json.dumps(image_config(layers=[layer], **config_kw)).encode()
    layer_hex = hashlib.sha256(layer).hexdigest()
    config_hex = hashlib.sha256(config).hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": _descriptor("config.v1+json", config_hex, config),
            "layers": [_descriptor("layer.v1.tar", layer_hex, layer)],
        }
    ).encode()
    manifest_hex = hashlib.sha256(manifest).hexdigest()
    index = {
        "schemaVersion": 2,
        "manifests": [_descriptor("manifest.v1+json", manifest_hex, manifest)],
    }
    tarball.add_dir("blobs/")
    tarball.add_dir("blobs/sha256/")
    for hex_digest, blob in sorted(
        [(layer_hex, layer), (config_hex, config), (manifest_hex, manifest)]
    ):
        tarball.add_file(f"blobs/sha256/{hex_digest}", blob)
    tarball.add_file("index.json", json.dumps(index).encode())
    docker_manifest = [
        {
            "Config": f"blobs/sha256/{config_hex}",
            "RepoTags": [tag],
            "Layers": [f"blobs/sha256/{layer_hex}"],
        }
    ]
    tarball.add_file("manifest.json", json.dumps(docker_manifest).encode())
    tarball.add_file("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
    tarball.image_id = f"sha256:{config_hex}"
    return tarball


def _descriptor(media: str, hex_digest: str, blob: bytes) -> dict[str, Any]:
    return {
        "mediaType": f"application/vnd.oci.image.{media}",
        "digest": f"sha256:{hex_digest}",
        "size": len(blob),
    }
