"""`enclave push`: chunks through the resumable upload API, resuming where the server stopped."""

import io
import socket
from urllib.parse import urlsplit

import pytest
import requests
from enclave_client.api import Api
from enclave_client.push import Progress, Uploader, file_pieces
from requests.adapters import HTTPAdapter

from evaluation.models import AlgorithmImage, UploadSession
from tests import factories
from tests.sandbox.tarballs import legacy_tarball

CHUNK = 4096


class CutOnce(HTTPAdapter):
    """Sends the `nth` chunk with its full Content-Length but only its first `keep` bytes, then
    hangs up, as a dropped connection does; the server keeps what arrived. With `keep=None` the
    whole chunk arrives and only the answer is lost. Records the offset and size of every other
    chunk."""

    def __init__(self, nth: int, keep: int | None) -> None:
        super().__init__()
        self.nth, self.keep = nth, keep
        self.puts = 0
        self.sent: list[tuple[int, int]] = []

    def send(self, request, **kwargs):  # type: ignore[override]
        if request.method == "PUT":
            self.puts += 1
            if self.puts == self.nth:
                if self.keep is None:
                    super().send(request, **kwargs)
                else:
                    self._send_truncated(request)
                raise requests.ConnectionError("connection reset (cut by the test)")
            self.sent.append((int(request.url.rsplit("offset=", 1)[1]), len(request.body)))
        return super().send(request, **kwargs)

    def _send_truncated(self, request) -> None:
        url = urlsplit(request.url)
        head = [f"PUT {url.path}?{url.query} HTTP/1.1", f"Host: {url.netloc}",
                "Connection: close", f"Content-Length: {len(request.body)}"]
        head += [f"{k}: {v}" for k, v in request.headers.items()
                 if k.lower() in ("authorization", "content-type")]
        with socket.create_connection((url.hostname, url.port)) as conn:
            conn.sendall("\r\n".join(head).encode() + b"\r\n\r\n" + request.body[:self.keep])
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(65536):  # until the server has handled what it got
                pass


@pytest.mark.parametrize("keep", [1000, None])
def test_a_push_cut_mid_chunk_resumes_at_the_servers_offset(live_server, world, tmp_path, keep):
    tarball = legacy_tarball().write(tmp_path / "image.tar")
    data = tarball.read_bytes()
    assert len(data) > 3 * CHUNK
    session = requests.Session()
    cutter = CutOnce(nth=2, keep=keep)
    arrived = CHUNK if keep is None else keep
    session.mount("http://", cutter)
    api = Api(live_server.url, factories.api_token_for(world.member), session=session)
    waits: list[float] = []
    progress = io.StringIO()
    uploader = Uploader(api, chunk_bytes=CHUNK, sleep=waits.append,
                        progress=Progress(progress))

    record = uploader.push("team-a", file_pieces(tarball), size=len(data))

    assert record["image_id"] == AlgorithmImage.objects.get().image_id
    assert UploadSession.objects.get().state == UploadSession.State.COMPLETED
    # after the cut the upload goes on where the server stopped, inside the chunk in hand
    assert cutter.sent[1] == ((CHUNK + keep, CHUNK - keep) if keep else (2 * CHUNK, CHUNK))
    # nothing was sent twice, and no request carried more than one chunk
    assert sum(size for _, size in cutter.sent) + arrived == len(data)
    assert max(size for _, size in cutter.sent) <= CHUNK
    assert len(waits) == 1
    assert ("resuming" in progress.getvalue()) == (keep is not None)
    assert "KiB sent" in progress.getvalue()


def test_a_refused_tarball_is_reported_with_the_servers_reason(signed_in, cli, tmp_path):
    bad = legacy_tarball(user="root").write(tmp_path / "root.tar")

    result = cli("push", str(bad), "--team", "team-a")

    assert result.code == 1
    assert "root" in result.err.lower()
    assert result.out == ""
    assert not AlgorithmImage.objects.exists()


def test_push_needs_a_team_it_belongs_to(signed_in, cli, tmp_path):
    tarball = legacy_tarball().write(tmp_path / "image.tar")

    no_team, not_mine = cli("push", str(tarball)), cli("push", str(tarball), "--team", "team-b")

    assert no_team.code == 1 and "--team" in no_team.err
    assert not_mine.code == 1 and "not a member" in not_mine.err


@pytest.mark.docker
def test_push_streams_docker_save_and_prints_the_image_id(signed_in, cli, docker_probe):
    import docker

    tag = docker_probe("good")
    local_id = docker.from_env().images.get(tag).id

    result = cli("push", tag, "--team", "team-a", "--chunk-mib", "8")

    assert result.code == 0, result.err
    assert result.out.strip() == local_id
    image = AlgorithmImage.objects.get()
    assert (image.image_id, image.team.slug, image.user) == (local_id, "team-a", "1000:1000")
    assert "MiB sent" in result.err
