"""Fixtures: a real modelwatch process on a free loopback port, with a binary model of two features.

The binary is `target/debug/modelwatch` of the repository (or `$MODELWATCH_BIN`); build it with
`cargo build --bin modelwatch`. Every process started here is stopped by its PID at teardown.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(os.environ.get("MODELWATCH_BIN", ROOT / "target" / "debug" / "modelwatch"))
MODEL = "fraud"
INGEST_TOKEN = "ingest-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config_toml(*, token: str | None = None, **server: Any) -> str:
    """A binary model `fraud` with two numeric features; `server` sets keys of `[server]`."""
    text = "[server]\n" + "".join(f"{k} = {v}\n" for k, v in server.items())
    if token is not None:
        text += f'[server.auth]\ningest_tokens = ["{token}"]\n'
    text += f"""
[[model]]
name = "{MODEL}"
task = "binary_classification"
max_pending = 1000000
[[model.window]]
name = "all"
events = 1000000
[model.drift]
interval = "1s"
[[model.feature]]
name = "amount"
type = "numeric"
[[model.feature]]
name = "age"
type = "numeric"
"""
    return text


class Server:
    """One modelwatch process; `stop()` and `start()` again keep the port (a restart loses the
    in-memory state, which is what a down-then-up test wants to avoid: it starts once, late)."""

    def __init__(self, workdir: Path, port: int, **config: Any) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.config = workdir / f"modelwatch-{port}.toml"
        self.config.write_text(config_toml(**config))
        self.log = workdir / f"modelwatch-{port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        if not BIN.exists():
            pytest.fail(f"{BIN} is missing: run `cargo build --bin modelwatch` first")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(BIN), "serve", "--config", str(self.config), "--listen", f"127.0.0.1:{self.port}"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"modelwatch exited with {self.proc.returncode}: {self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"modelwatch did not become ready: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/v1/models/{MODEL}", timeout=10) as r:
            result: dict[str, Any] = json.loads(r.read())
            return result

    def metric(self, name: str, **labels: str) -> float:
        """The value of one series on /metrics (0 when the series is absent)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as r:
            text = r.read().decode()
        total = 0.0
        for line in text.splitlines():
            m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
            if not m or m.group(1) != name:
                continue
            found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(m.group(3))
        return total


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def make(**config: Any) -> Server:
        server = Server(tmp_path, free_port(), **config)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    return make_server().start()


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="modelwatch-pyclient-") as d:
        yield Path(d)
