"""A team's tarball cannot take over a tag on a worker node (say, the base image's)."""

import io

import pytest

from sandbox.backends.docker import DockerBackend

pytestmark = pytest.mark.docker

VICTIM = b'FROM enclave/base:bookworm\nLABEL role=victim\nUSER 1000\nCMD ["true"]\n'
ATTACKER = b'FROM enclave/base:bookworm\nLABEL role=attacker\nUSER 1000\nCMD ["true"]\n'
TAG = "enclave-test/tag-victim:latest"


def test_loading_a_tarball_never_moves_an_existing_tag(docker_client, tmp_path):
    victim, _ = docker_client.images.build(fileobj=io.BytesIO(VICTIM), tag=TAG, rm=True)
    attacker, _ = docker_client.images.build(fileobj=io.BytesIO(ATTACKER), rm=True)
    attacker.tag("enclave-test/tag-victim", "latest")  # the team's tarball carries the victim tag
    tarball = tmp_path / "attacker.tar"
    with tarball.open("wb") as out:
        for chunk in docker_client.api.get_image(TAG):
            out.write(chunk)
    victim.tag("enclave-test/tag-victim", "latest")
    docker_client.images.remove(attacker.id, force=True)
    backend = DockerBackend(work_root=tmp_path / "runs")

    backend.ensure_image(image_id=attacker.id, open_tarball=lambda: tarball.open("rb"))

    try:
        assert docker_client.images.get(TAG).id == victim.id
        loaded = docker_client.images.get(attacker.id)
        assert loaded.tags == [f"enclave-loaded/{attacker.id.removeprefix('sha256:')[:32]}:image"]
    finally:
        docker_client.images.remove(attacker.id, force=True)
