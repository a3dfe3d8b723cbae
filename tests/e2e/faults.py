"""Faults for the end-to-end tests, on processes the test owns (never the shared servers).

- `RedisServer`: a private broker that can be SIGKILLed and started again, empty, on its port.
- `TcpProxy`: a TCP relay to PostgreSQL; `cut()` drops every connection and refuses new ones,
  `resume()` accepts again: what workers see of a database restart.
- `Gunicorn`: the web process (config.wsgi) on a loopback port, SIGKILLed at will.
- `use_broker(url)`: points this test process's Celery app at another broker.
"""

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kombu import pools as kombu_pools

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None,
                  timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port} after {timeout} s")


def _kill_group(process: subprocess.Popen[bytes], sig: int, port: int) -> None:
    """Signal the process group and wait until its port refuses connections (a child dying a
    moment after its parent still holds the listening socket)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
        except OSError:
            return
        time.sleep(0.1)
    raise AssertionError(f"port {port} still accepts connections after the kill")


@dataclass
class RedisServer:
    """A redis-server of the test's own, without persistence: a restart loses every message."""

    log_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.log_dir / f"redis-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_for_port(self.port, self.process)

    def kill(self) -> None:
        """SIGKILL, as a crashed broker host would stop."""
        if self.process is not None and self.process.poll() is None:
            _kill_group(self.process, signal.SIGKILL, self.port)


class TcpProxy:
    """Relays 127.0.0.1:`port` to `target`. Threads: one accepting, one per relayed connection."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None

    def resume(self) -> None:
        """Listen (again) and relay every new connection."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True,
                                          name=f"proxy-{self.port}")
        self._acceptor.start()

    def cut(self) -> None:
        """Drop every relayed connection and stop listening (connections are refused)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if self._acceptor is not None:
            self._acceptor.join(timeout=10)
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._relay, args=(client, upstream), daemon=True).start()

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            try:
                while True:
                    for key, _ in selector.select():
                        source = key.fileobj
                        assert isinstance(source, socket.socket)
                        data = source.recv(65536)
                        if not data:
                            return
                        peers[source].sendall(data)
            except (OSError, ValueError):
                return  # cut, or a peer went away
            finally:
                with self._lock:
                    if (client, upstream) in self._pairs:
                        self._pairs.remove((client, upstream))
                for sock in peers:
                    sock.close()


@dataclass
class Gunicorn:
    """`gunicorn config.wsgi` with one sync worker, on the test's database and storage."""

    env: dict[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.log_dir / "gunicorn.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
             f"127.0.0.1:{self.port}", "--workers", "1", "--timeout", "300", "--no-control-socket"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_for_port(self.port, self.process)

    def kill(self) -> None:
        """SIGKILL the master and its worker at once, as a crashed web host would stop."""
        if self.process is not None and self.process.poll() is None:
            _kill_group(self.process, signal.SIGKILL, self.port)

    def log(self) -> str:
        return (self.log_dir / "gunicorn.log").read_text(errors="replace")[-5000:]


def _reset_producers(app: Any) -> None:
    """Close every kombu pool (they are shared, keyed by broker) and forget the app's."""
    kombu_pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@contextlib.contextmanager
def use_broker(url: str) -> Iterator[None]:
    """Publish from this process to `url` (the Celery app's connection pools are rebuilt)."""
    from config.celery import app

    previous, previous_env = app.conf.broker_url, os.environ.get("CELERY_BROKER_URL")
    os.environ["CELERY_BROKER_URL"] = url  # Celery reads it before its own settings
    app.conf.broker_url = url
    _reset_producers(app)
    try:
        yield
    finally:
        app.conf.broker_url = previous
        if previous_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = previous_env
        _reset_producers(app)
