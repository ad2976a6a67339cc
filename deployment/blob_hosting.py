"""Host a bundle's payload.zst in Azure Blob Storage for `publish --upload`: a content-addressed blob (its
sha256), uploaded only when the container does not hold it already, and a read-only, HTTPS-only SAS URL
that devices offline for days can still fetch (and resume with Range).

The SAS is signed with the storage account key when one is given (a connection string or
AZURE_STORAGE_KEY), else with a user delegation key obtained with an Azure AD credential (the identity
needs "Storage Blob Data Contributor" on the container to upload and to ask for the key).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, urlsplit

from .errors import HubError, UsageError

ENV_CONNECTION_STRING = "AZURE_STORAGE_CONNECTION_STRING"
ENV_ACCOUNT_KEY = "AZURE_STORAGE_KEY"
#: Account-key SAS lifetime when --sas-days is not given: a month covers a device parked for weeks.
DEFAULT_SAS_DAYS = 30.0
#: Azure caps a user delegation key (and so a SAS signed with it) at 7 days from the request.
MAX_DELEGATION_DAYS = 7.0
#: A SAS starts a little in the past: a device whose clock runs behind must not see "not yet valid".
CLOCK_SKEW = timedelta(minutes=15)
#: Blocks of this size give the progress line something to show for a 100-tree model (~300 KB).
BLOCK_BYTES = 64 * 1024
SHA256_METADATA = "sha256"
#: Retries per request (azure-core backs off exponentially); a dead endpoint then fails in seconds.
RETRIES = 2


class StorageError(HubError):
    """Blob Storage refused or could not be reached (exit 3, like the hub: nothing was published)."""


@dataclass(frozen=True)
class Container:
    """A container URL split into what the SDK needs: https://ACCOUNT.blob.core.windows.net/CONTAINER."""

    url: str
    account_url: str
    account_name: str
    name: str


def parse_container_url(url: str) -> Container:
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.netloc:
        raise UsageError(f"--upload {url!r}: expected https://ACCOUNT.blob.core.windows.net/CONTAINER")
    if parts.query:
        raise UsageError(f"--upload {url!r}: give the container URL without a SAS token; the credential comes "
                         f"from ${ENV_CONNECTION_STRING}, ${ENV_ACCOUNT_KEY} or Azure AD")
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) == 1:  # https://ACCOUNT.blob.core.windows.net/CONTAINER
        account, account_url = (parts.hostname or "").split(".", 1)[0], f"https://{parts.netloc}"
    elif len(segments) == 2:  # path style, as Azurite and IP endpoints use: https://HOST/ACCOUNT/CONTAINER
        account, account_url = segments[0], f"https://{parts.netloc}/{segments[0]}"
    else:
        raise UsageError(f"--upload {url!r}: expected https://ACCOUNT.blob.core.windows.net/CONTAINER")
    return Container(url.rstrip("/"), account_url, account, segments[-1])


@dataclass(frozen=True)
class Credential:
    """Either an account key (SAS signed with it) or an Azure AD token credential (user delegation SAS)."""

    account_key: str | None = None
    token: Any = None

    @property
    def kind(self) -> str:
        return "account key" if self.account_key else "user delegation key (Azure AD)"


def credential_from_environment(container: Container, connection_string: str | None = None) -> Credential:
    """A connection string's or $AZURE_STORAGE_KEY's account key, else DefaultAzureCredential."""
    text = connection_string or os.environ.get(ENV_CONNECTION_STRING)
    if text:
        fields = dict(part.split("=", 1) for part in text.split(";") if "=" in part)
        if fields.get("AccountName") and fields["AccountName"] != container.account_name:
            raise UsageError(f"the storage connection string is for account {fields['AccountName']}, "
                             f"the --upload container is in {container.account_name}")
        if not fields.get("AccountKey"):
            raise UsageError("the storage connection string has no AccountKey")
        return Credential(account_key=fields["AccountKey"])
    if os.environ.get(ENV_ACCOUNT_KEY):
        return Credential(account_key=os.environ[ENV_ACCOUNT_KEY])
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError as exc:
        raise UsageError(f"no storage credential: set ${ENV_CONNECTION_STRING} or ${ENV_ACCOUNT_KEY}, or install "
                         f"azure-identity for Azure AD ({exc})") from None
    return Credential(token=DefaultAzureCredential())


@dataclass(frozen=True)
class Hosted:
    url: str  # the blob URL with its read-only SAS: what the twin carries
    blob: str
    size: int
    sha256: str  # of payload.zst (the twin's sha256 pins the decompressed model)
    uploaded: bool  # False: the container already held this exact blob
    expires: datetime
    signed_with: str

    def as_json(self) -> dict:
        return {"url": self.url, "blob": self.blob, "size": self.size, "sha256": self.sha256,
                "uploaded": self.uploaded, "sas_expiry": self.expires.isoformat(), "sas_signed_with": self.signed_with}


def sas_lifetime(days: float | None, credential: Credential) -> timedelta:
    if days is None:
        days = DEFAULT_SAS_DAYS if credential.account_key else MAX_DELEGATION_DAYS
    if days <= 0:
        raise UsageError(f"--sas-days {days:g}: must be positive")
    if credential.token is not None and days > MAX_DELEGATION_DAYS:
        raise UsageError(f"--sas-days {days:g}: a SAS signed with an Azure AD user delegation key lasts at most "
                         f"{MAX_DELEGATION_DAYS:g} days; use the account key for longer, or re-publish weekly")
    return timedelta(days=days)


def _service(container: Container, credential: Credential, ca_file: str | None):
    from azure.storage.blob import BlobServiceClient

    auth = ({"account_name": container.account_name, "account_key": credential.account_key}
            if credential.account_key else credential.token)
    options = {"connection_verify": ca_file} if ca_file else {}
    return BlobServiceClient(container.account_url, credential=auth, max_block_size=BLOCK_BYTES,
                             max_single_put_size=BLOCK_BYTES, retry_total=RETRIES, **options)


def _already_there(blob_client, size: int, digest: str) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        props = blob_client.get_blob_properties()
    except ResourceNotFoundError:
        return False
    return props.size == size and (props.metadata or {}).get(SHA256_METADATA) == digest


def _ensure_container(service, name: str) -> None:
    from azure.core.exceptions import ResourceExistsError

    try:
        service.create_container(name)
    except ResourceExistsError:
        pass


def _sas(container: Container, blob: str, credential: Credential, service, lifetime: timedelta) -> tuple[str, datetime]:
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    now = datetime.now(timezone.utc)
    start, expiry = now - CLOCK_SKEW, now + lifetime
    signing = {"account_key": credential.account_key} if credential.account_key else \
        {"user_delegation_key": service.get_user_delegation_key(start, expiry)}
    token = generate_blob_sas(container.account_name, container.name, blob, permission=BlobSasPermissions(read=True),
                              start=start, expiry=expiry, protocol="https", **signing)
    return token, expiry


def host_payload(payload: Path, container: Container, credential: Credential, sas_days: float | None = None,
                 progress: Callable[[int, int], None] | None = None, ca_file: str | None = None) -> Hosted:
    """Upload `payload` as <sha256>.zst unless the container has it with that size and hash; return its SAS URL."""
    from azure.core.exceptions import AzureError, HttpResponseError
    from azure.storage.blob import ContentSettings

    lifetime = sas_lifetime(sas_days, credential)
    data = Path(payload).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    blob = f"{digest}.zst"
    service = _service(container, credential, ca_file)
    client = service.get_blob_client(container.name, blob)
    try:
        uploaded = False
        if not _already_there(client, len(data), digest):
            _ensure_container(service, container.name)
            client.upload_blob(data, overwrite=True, metadata={SHA256_METADATA: digest},
                               content_settings=ContentSettings(content_type="application/zstd"),
                               progress_hook=progress)
            uploaded = True
        token, expiry = _sas(container, blob, credential, service, lifetime)
    except HttpResponseError as exc:
        raise StorageError(f"Blob Storage {container.url}: {exc.status_code} {exc.reason}: "
                           f"{(exc.message or '').splitlines()[0][:200]} (the credential needs write access to the "
                           f"container{' and the delegator role' if credential.token else ''})", exc.status_code) from None
    except AzureError as exc:
        raise StorageError(f"Blob Storage {container.url}: cannot reach it ({str(exc).splitlines()[0][:200]})") from None
    url = f"{container.url}/{quote(blob)}?{token}"
    return Hosted(url, blob, len(data), digest, uploaded, expiry, credential.kind)
