"""Fetch a model's bytes: inline chunks from the twin, or a URL streamed to a partial file and resumed.

URL payloads may be zstd-compressed: they are when the URL path ends in `.zst` or the first bytes are
zstd's magic number (28 b5 2f fd); anything else is taken as the model file itself. The partial file keeps
the bytes as served, so a dropped link or a restart resumes with an HTTP Range request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import random
import shutil
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlsplit

import zstandard

from ..errors import UpdateError
from ..settings import UpdatesSection
from .section import ModelSection

if TYPE_CHECKING:
    import requests

# requests is imported when a URL download starts, not at start: about 5 MB of RSS that a device fed
# inline or by tiny layers never needs (on IoT Edge the SDK imports it anyway).

log = logging.getLogger(__name__)

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
READ_CHUNK = 64 * 1024
#: Reported progress at most this often: the twin is rate-limited and each patch is a message.
PROGRESS_EVERY_S = 1.0


class Cancelled(UpdateError):
    """A newer desired state superseded this fetch (not a failure: nothing is reported for it)."""

    stage = "download"


class FetchFailed(UpdateError, ConnectionError):
    stage = "download"


def zstd_bound(size: int) -> int:
    """The most bytes zstd can take to hold `size` bytes (ZSTD_compressBound), so a cap never cuts a payload."""
    return size + (size >> 8) + 1024


def decompress_capped(data_or_file, size: int, out: Path) -> None:
    """Decompress into `out`, refusing output beyond the declared size (a zip bomb stops there)."""
    reader = zstandard.ZstdDecompressor().stream_reader(data_or_file)
    written = 0
    with open(out, "wb") as fh:
        try:
            while chunk := reader.read(READ_CHUNK):
                written += len(chunk)
                if written > size:
                    raise UpdateError(f"the payload decompresses to more than the declared size ({size} bytes)",
                                      stage="verify")
                fh.write(chunk)
        except zstandard.ZstdError as exc:
            raise UpdateError(f"the payload is not valid zstd: {exc}", stage="verify") from None


def fetch_inline(section: ModelSection, out: Path) -> int:
    """Assemble the chunks in key order, base64-decode, decompress; returns the bytes carried in the twin."""
    text = "".join(section.inline.ordered())
    try:
        payload = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FetchFailed(f"model.inline is not valid base64: {exc}") from None
    import io

    decompress_capped(io.BytesIO(payload), section.size, out)
    return len(payload)


class Throttle:
    """Calls `report(n)` at most once per PROGRESS_EVERY_S, and always for the last value via flush()."""

    def __init__(self, report: Callable[[int], None], every: float = PROGRESS_EVERY_S):
        self._report, self._every, self._last, self._value = report, every, 0.0, None

    def __call__(self, value: int) -> None:
        self._value = value
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._report(value)

    def flush(self) -> None:
        if self._value is not None:
            self._report(self._value)


def partial_path(partial_dir: Path, section: ModelSection) -> Path:
    """One partial file per (sha256, url): a moved URL or a changed model never appends to the wrong bytes."""
    tag = hashlib.sha256(section.url.encode("utf-8")).hexdigest()[:12]
    return partial_dir / f"{section.sha256[:16]}-{tag}.part"


def is_compressed(url: str, head: bytes) -> bool:
    return urlsplit(url).path.endswith(".zst") or head.startswith(ZSTD_MAGIC)


def session_for(settings: UpdatesSection, bundle_dir: Path) -> requests.Session:
    """A session that trusts the system's CAs plus updates.extra_ca (a private CA for an on-site mirror)."""
    import requests

    session = requests.Session()
    if settings.extra_ca:
        base = os.environ.get("REQUESTS_CA_BUNDLE") or requests.certs.where()
        bundle = bundle_dir / "ca-bundle.pem"
        try:
            bundle.write_bytes(Path(base).read_bytes() + b"\n" + Path(settings.extra_ca).read_bytes())
        except OSError as exc:
            raise UpdateError(f"cannot read updates.extra_ca {settings.extra_ca}: {exc.strerror}", "download") from None
        session.verify = str(bundle)
    return session


class UrlFetcher:
    """Streams one URL to its partial file with Range resume, backoff with jitter and a size cap."""

    def __init__(self, section: ModelSection, settings: UpdatesSection, partial: Path, session: requests.Session,
                 progress: Callable[[int], None], cancel: threading.Event):
        self.section, self.settings, self.partial = section, settings, partial
        self.session, self.progress, self.cancel = session, progress, cancel
        self.cap = min(zstd_bound(section.size), settings.max_model_bytes + 1024)

    def run(self) -> Path:
        """The complete partial file (as served); raises FetchFailed after the retries, Cancelled when superseded."""
        import requests
        import urllib3

        failures = 0
        self.deadline = time.monotonic() + self.settings.effective_download_deadline_s()
        while True:
            self._check_cancel()
            self._check_deadline()
            have = self.partial.stat().st_size if self.partial.exists() else 0
            try:
                if self._attempt(have):
                    return self.partial
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, FetchFailed) as exc:
                if isinstance(exc, FetchFailed) and getattr(exc, "final", False):
                    raise
                grew = (self.partial.stat().st_size if self.partial.exists() else 0) > have
                failures = 0 if grew else failures + 1
                if failures > self.settings.retries:
                    raise FetchFailed(f"download failed after {self.settings.retries} retries: {_brief(exc)}") from None
                delay = self._backoff(failures)
                log.warning("download interrupted, will resume", extra={
                    "model_version": self.section.version, "error": _brief(exc), "bytes": have, "retry_in_s": delay})
                delay = max(0.0, min(delay, self.deadline - time.monotonic()))
                if self.cancel.wait(delay):
                    self._check_cancel()

    def _backoff(self, failures: int) -> float:
        if failures == 0:
            return min(0.1, self.settings.backoff_base_s)
        ceiling = min(self.settings.backoff_max_s, self.settings.backoff_base_s * 2 ** (failures - 1))
        return ceiling * random.uniform(0.5, 1.0)

    def _check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            limit = self.settings.effective_download_deadline_s()
            raise _final(f"download took longer than its deadline (updates.download_deadline_s = {limit:g} s); "
                         "stopped")

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("superseded by a newer desired model")

    def _attempt(self, have: int) -> bool:
        # identity: the bytes are read raw (to keep a partial piece), so no transfer compression may sit on them.
        headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={have}-"} if have else {})}
        timeout = (self.settings.connect_timeout_s, self.settings.read_timeout_s)
        # verify= is passed explicitly: requests would otherwise let REQUESTS_CA_BUNDLE override session.verify.
        with self.session.get(self.section.url, headers=headers, stream=True, timeout=timeout,
                              verify=self.session.verify) as resp:
            if resp.status_code == 416 and have:
                return self._range_not_satisfiable(resp, have)
            if resp.status_code >= 400:
                raise FetchFailed(f"HTTP {resp.status_code} from {_where(self.section.url)}")
            mode = "ab" if resp.status_code == 206 and _range_start(resp) == have else "wb"
            if mode == "wb" and have:
                log.info("server ignored the Range request; starting over",
                         extra={"model_version": self.section.version, "bytes": have})
                have = 0
            self._refuse_declared_length(resp, have)
            head = self._head() if mode == "ab" else b""
            with open(self.partial, mode) as fh:
                for chunk in _pieces(resp):
                    self._check_cancel()
                    self._check_deadline()
                    if len(head) < 4:
                        head += chunk[: 4 - len(head)]
                        self._narrow_cap(head)
                    have += len(chunk)
                    if have > self.cap:
                        fh.truncate(0)
                        raise _final(f"the server sent more than the declared size allows ({self.cap} bytes); "
                                     "stopped reading")
                    fh.write(chunk)
                    self.progress(have)
        return True

    def _head(self) -> bytes:
        with open(self.partial, "rb") as fh:
            head = fh.read(4)
        self._narrow_cap(head)
        return head

    def _narrow_cap(self, head: bytes) -> None:
        """Once the first bytes show an uncompressed file, the cap is the declared size itself."""
        if len(head) >= 4 and not is_compressed(self.section.url, head):
            self.cap = min(self.cap, self.section.size)

    def _refuse_declared_length(self, resp: requests.Response, have: int) -> None:
        length = resp.headers.get("Content-Length")
        if length and length.isdigit() and have + int(length) > self.cap:
            raise _final(f"the server offers {have + int(length)} bytes, more than the declared size allows "
                         f"({self.cap} bytes); not downloaded")

    def _range_not_satisfiable(self, resp: requests.Response, have: int) -> bool:
        """416 after a restart means the partial file already holds everything (or is longer than the file)."""
        total = resp.headers.get("Content-Range", "").rpartition("/")[2]
        if total.isdigit() and int(total) == have:
            return True
        self.partial.unlink(missing_ok=True)
        raise FetchFailed("the partial download does not match the file on the server; starting over")


def _pieces(resp: requests.Response):
    """Whatever has arrived, piece by piece: a connection cut half way keeps every byte received before it
    (iter_content reads whole chunks and loses a partial one)."""
    while piece := resp.raw.read1(READ_CHUNK):
        yield piece


def _final(message: str) -> FetchFailed:
    exc = FetchFailed(message)
    exc.final = True
    return exc


def _range_start(resp: requests.Response) -> int:
    value = resp.headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return -1


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _brief(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text[:300]}"


def finish_url(section: ModelSection, partial: Path, out: Path) -> None:
    """The downloaded bytes -> the model file: decompressed when zstd, else copied, capped at the declared size."""
    with open(partial, "rb") as fh:
        head = fh.read(4)
        fh.seek(0)
        if is_compressed(section.url, head):
            decompress_capped(fh, section.size, out)
            return
    if partial.stat().st_size > section.size:
        raise FetchFailed(f"the download is larger than the declared size ({section.size} bytes)")
    shutil.copyfile(partial, out)
