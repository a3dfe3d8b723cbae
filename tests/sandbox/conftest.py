"""Fixtures for the sandbox tests: the docker engine and the small test images.

`docker_image(name)` builds `enclave-test/<name>:latest` from tests/sandbox/images the first time a
session asks for it (FROM enclave/base:bookworm; docker's cache keeps rebuilds fast). Without a
docker engine the docker tests error: they are never skipped.
"""

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from sandbox.backends.fake import FakeBackend

IMAGES_DIR = Path(__file__).parent / "images"
BASE_IMAGE = "enclave/base:bookworm"

# name -> (directory under images/, build args)
TEST_IMAGES: dict[str, tuple[str, dict[str, str]]] = {
    "well-behaved": ("probe", {"PROBE": "well_behaved"}),
    "exit-one": ("probe", {"PROBE": "exit_one"}),
    "sleeper": ("probe", {"PROBE": "sleeper"}),
    "memory-hog": ("probe", {"PROBE": "memory_hog"}),
    "resource-user": ("probe", {"PROBE": "resource_user"}),
    "chatter": ("probe", {"PROBE": "chatter"}),
    "inspector": ("probe", {"PROBE": "inspector", "RUN_AS": "nobody"}),
    "symlinker": ("probe", {"PROBE": "symlinker"}),
    "output-flood": ("probe", {"PROBE": "output_flood"}),
    "fork-bomb": ("probe", {"PROBE": "fork_bomb"}),
    "root": ("probe", {"PROBE": "well_behaved", "RUN_AS": "root"}),
    "root-alias": ("root-alias", {}),
    "no-command": ("no-command", {}),
    "volume": ("volume", {}),
}


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    client.ping()  # no engine: the docker tests error here, they are never skipped
    client.images.get(BASE_IMAGE)  # built by examples/base/build-base.sh
    yield client
    client.close()


@pytest.fixture(scope="session")
def docker_image(docker_client: docker.DockerClient) -> Callable[[str], str]:
    built: dict[str, str] = {}

    def build(name: str) -> str:
        if name not in built:
            directory, build_args = TEST_IMAGES[name]
            tag = f"enclave-test/{name}:latest"
            image, _ = docker_client.images.build(
                path=str(IMAGES_DIR / directory), tag=tag, buildargs=build_args, rm=True
            )
            built[name] = image.id
        return built[name]

    return build


@pytest.fixture
def case_inputs(tmp_path: Path) -> Path:
    """An /input with a manifest and three cases."""
    root = tmp_path / "input"
    root.mkdir()
    cases = []
    for number in range(3):
        case_id = f"case-{number:04d}"
        (root / case_id).mkdir()
        (root / case_id / "image.png").write_bytes(b"\x89PNG" + bytes(number * 10))
        cases.append({"id": case_id, "files": [f"{case_id}/image.png"], "modality": "XC"})
    manifest = {"contract": "enclave/v1", "task": {"type": "binary-classification"}, "cases": cases}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    path = tmp_path / "collected"
    path.mkdir()
    return path


@pytest.fixture
def fake_backend() -> Iterator[type[FakeBackend]]:
    FakeBackend.reset()
    yield FakeBackend
    FakeBackend.reset()
