"""Azurite (Microsoft's Blob Storage emulator, npm) on a loopback address of its own, over HTTPS with a
throwaway CA, in a throwaway folder: the real Blob REST API for the upload and SAS tests.

tools/bootstrap.sh --test installs it (pinned in tools/node/package-lock.json) into tools/node/node_modules.
Azurite speaks path-style URLs: https://HOST:PORT/devstoreaccount1/CONTAINER/BLOB.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers.net import free_port, loopback_address, wait_listening
from tests.helpers.tls import make_server_certificate

ROOT = Path(__file__).resolve().parents[2]
AZURITE = ROOT / "tools" / "node" / "node_modules" / ".bin" / "azurite-blob"
#: Azurite's one built-in account and its published key (the emulator's documented default, not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class Azurite:
    """`with Azurite(tmp_path) as blob:`; trust `blob.ca_file`; `blob.account_url`, `blob.connection_string`."""

    def __init__(self, workdir: Path, oauth: bool = False, debug: bool = False):
        self.workdir = Path(workdir) / "azurite"
        self.host = loopback_address()
        self.port = free_port(self.host)
        self.oauth, self.debug = oauth, debug
        self.tls = make_server_certificate(self.workdir / "tls", self.host, "azurite")
        self._proc: subprocess.Popen | None = None

    @property
    def ca_file(self) -> Path:
        return self.tls.ca_file

    @property
    def account_url(self) -> str:
        return f"https://{self.host}:{self.port}/{ACCOUNT}"

    def container_url(self, container: str) -> str:
        return f"{self.account_url}/{container}"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=https;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
                f"BlobEndpoint={self.account_url};")

    def start(self) -> "Azurite":
        if not AZURITE.exists():
            raise RuntimeError(f"{AZURITE} is missing: run tools/bootstrap.sh --test (it installs Azurite from npm)")
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        debug = self.debug
        args = [str(AZURITE), "--blobHost", self.host, "--blobPort", str(self.port), "--location", str(data),
                "--cert", str(self.tls.cert_file), "--key", str(self.tls.key_file), "--skipApiVersionCheck",
                "--disableTelemetry", "--disableProductStyleUrl"] + ([] if debug else ["--silent"])
        if self.oauth:
            args += ["--oauth", "basic"]
        self._log = open(self.workdir / "azurite.log", "wb")
        self._proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.workdir)
        try:
            wait_listening(self.host, self.port, timeout=30)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"Azurite did not start: {(self.workdir / 'azurite.log').read_text()[-2000:]}")
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
            self._log.close()

    def __enter__(self) -> "Azurite":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    """`python -m tests.helpers.azurite DIR`: Azurite over HTTPS for trying `publish --upload` by hand."""
    import sys
    import threading

    blob = Azurite(Path(sys.argv[1] if len(sys.argv) > 1 else "azurite-demo").resolve()).start()
    print(f"export AZURE_STORAGE_CONNECTION_STRING='{blob.connection_string}'")
    print(f"export AZURITE_CA='{blob.ca_file}'")
    print(f"export CONTAINER_URL='{blob.container_url('models')}'")
    print("# Ctrl-C stops", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        blob.stop()


if __name__ == "__main__":
    main()
