"""The participant client against a live server (real HTTP, pytest-django's `live_server`).

The client is imported from client/ on sys.path: the tests never install it into the project's
venv (participants run `pip install ./client`). `cli(...)` runs the `enclave` command in process
with its own config folder; `docker_probe(mode)` builds enclave-test/cli-<mode>:latest from
tests/client/images/probe (FROM enclave/base:bookworm).
"""

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

CLIENT_DIR = Path(__file__).resolve().parents[2] / "client"
if str(CLIENT_DIR) not in sys.path:
    sys.path.insert(0, str(CLIENT_DIR))

from enclave_client import cli as enclave_cli  # noqa: E402

from tests.evaluation.conftest import fake_sandbox  # noqa: E402, F401 (a fixture)

IMAGES_DIR = Path(__file__).parent / "images"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def config_home(tmp_path, monkeypatch) -> Path:
    """A private config folder; no ENCLAVE_* variable leaks in from the environment."""
    home = tmp_path / "config-home"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    for name in ("ENCLAVE_URL", "ENCLAVE_TOKEN", "ENCLAVE_TEAM"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def cli(config_home, capsys) -> Callable[..., Result]:
    def run(*args: str) -> Result:
        capsys.readouterr()
        code = enclave_cli.main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def signed_in(live_server, world, config_home, monkeypatch) -> str:
    """The team member `alice` signed in through the environment; returns the server URL."""
    from tests import factories

    monkeypatch.setenv("ENCLAVE_URL", live_server.url)
    monkeypatch.setenv("ENCLAVE_TOKEN", factories.api_token_for(world.member))
    return live_server.url


@pytest.fixture(scope="session")
def docker_probe() -> Callable[[str], str]:
    import docker

    client = docker.from_env()
    client.ping()  # no engine: the docker tests error here, they are never skipped
    built: dict[str, str] = {}

    def build(mode: str, run_as: str = "1000:1000") -> str:
        tag = f"enclave-test/cli-{mode}{'-root' if run_as == 'root' else ''}:latest"
        if tag not in built:
            client.images.build(path=str(IMAGES_DIR / "probe"), tag=tag, rm=True,
                                buildargs={"MODE": mode, "RUN_AS": run_as})
            built[tag] = tag
        return tag

    return build
