"""Debian's mosquitto on <loopback address>:8883 with TLS from a throwaway CA, started and stopped by tests.

Configured as the facts about the IoT SDK require: a persistent session store (the SDK never
re-subscribes after a reconnect), no queue limit (edgeHub stores to disk, mosquitto would drop beyond
1,000 queued messages), TCP_NODELAY. Restartable on the same address, port and store.

    with Mosquitto(tmp_path / "broker") as broker:
        ...  broker.host, broker.port, broker.ca_file; broker.restart()
"""

from __future__ import annotations

import getpass
import os
import signal
import subprocess
import time
from pathlib import Path

from .net import loopback_address, wait_listening
from .tls import make_server_certificate

MOSQUITTO = "/usr/sbin/mosquitto"
#: The SDK dials 8883 and nothing else (443 only over websockets), so each broker needs its own address.
SDK_PORT = 8883
STOP_TIMEOUT_S = 10.0


class Mosquitto:
    def __init__(self, folder: Path, host: str | None = None, port: int = SDK_PORT, extra_config: tuple[str, ...] = ()):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.host = host or loopback_address()
        self.port = port
        self.certificate = make_server_certificate(self.folder / "tls", self.host)
        self.log_file = self.folder / "mosquitto.log"
        self.config_file = self.folder / "mosquitto.conf"
        self.config_file.write_text(self._config(extra_config))
        self._process: subprocess.Popen | None = None

    @property
    def ca_file(self) -> Path:
        """The PEM a client trusts (EdgeModuleCACertificateFile for the module)."""
        return self.certificate.ca_file

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _config(self, extra: tuple[str, ...]) -> str:
        c = self.certificate
        lines = [
            f"listener {self.port} {self.host}",
            f"cafile {c.ca_file}",
            f"certfile {c.cert_file}",
            f"keyfile {c.key_file}",
            "tls_version tlsv1.2",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {self.folder}/",
            "autosave_interval 1",
            "max_queued_messages 0",
            "max_inflight_messages 0",
            "set_tcp_nodelay true",
            f"user {getpass.getuser()}",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages true",
            *extra,
        ]
        return "\n".join(lines) + "\n"

    def start(self) -> "Mosquitto":
        if self.running:
            return self
        self._process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_listening(self.host, self.port, timeout=10.0)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"mosquitto did not start on {self.host}:{self.port}: {self.log_tail()}") from None
        return self

    def stop(self) -> None:
        """SIGTERM (mosquitto saves its session store), then wait; kill if it hangs."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()

    def restart(self, down_for_s: float = 0.0) -> None:
        self.stop()
        if down_for_s:
            time.sleep(down_for_s)
        self.start()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> "Mosquitto":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def mosquitto_available() -> bool:
    return os.access(MOSQUITTO, os.X_OK)
