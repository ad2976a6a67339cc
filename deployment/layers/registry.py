"""An OCI distribution-spec client over requests: manifests, blob HEAD/GET, cross-repo mount, upload."""

from __future__ import annotations

import requests

from . import RegistryError
from .auth import Auth
from .image import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Image, parse_manifest
from .tar import sha256_digest

ACCEPT_MANIFESTS = ", ".join((OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST))
#: How many times one request may be re-sent after answering 401 challenges (a new scope, then a token).
MAX_CHALLENGES = 2


class RegistryClient:
    """One registry (host[:port]); https unless `insecure` (a plain-HTTP registry on a trusted network)."""

    def __init__(self, registry: str, *, insecure: bool = False, username: str | None = None,
                 password: str | None = None, timeout: float = 60.0):
        self.registry = registry
        self.base_url = f"{'http' if insecure else 'https'}://{registry}"
        self.session = requests.Session()
        self.timeout = timeout
        self.auth = Auth(self.session, username, password, timeout)

    def get_manifest(self, repository: str, reference: str) -> tuple[bytes, str]:
        resp = self._request("GET", f"/v2/{repository}/manifests/{reference}", (200,),
                             f"fetching the manifest of {repository}:{reference}", headers={"Accept": ACCEPT_MANIFESTS})
        return resp.content, resp.headers.get("Content-Type", "").split(";")[0]

    def get_image(self, repository: str, reference: str) -> Image:
        manifest, media_type = self.get_manifest(repository, reference)
        parsed, kind = parse_manifest(manifest, media_type, f"{self.registry}/{repository}:{reference}")
        return Image(manifest, kind, self.get_blob(repository, parsed["config"]["digest"]))

    def get_blob(self, repository: str, digest: str) -> bytes:
        resp = self._request("GET", f"/v2/{repository}/blobs/{digest}", (200,), f"fetching blob {digest} of {repository}")
        if sha256_digest(resp.content) != digest:
            raise RegistryError(f"blob {digest} of {repository} came back with other content")
        return resp.content

    def blob_exists(self, repository: str, digest: str) -> bool:
        resp = self._request("HEAD", f"/v2/{repository}/blobs/{digest}", (200, 404), f"checking blob {digest} in {repository}")
        return resp.status_code == 200

    def mount_blob(self, repository: str, digest: str, from_repository: str) -> str | None:
        """Mounts a blob from another repository of this registry; None when mounted, else an upload URL."""
        resp = self._request("POST", f"/v2/{repository}/blobs/uploads/", (201, 202),
                             f"mounting blob {digest} from {from_repository} into {repository}",
                             params={"mount": digest, "from": from_repository})
        return None if resp.status_code == 201 else resp.headers["Location"]

    def upload_blob(self, repository: str, digest: str, data: bytes, location: str | None = None) -> None:
        """A monolithic upload: POST for a session (unless given one), then one PUT with the bytes."""
        what = f"uploading blob {digest} ({len(data)} B) to {repository}"
        if location is None:
            location = self._request("POST", f"/v2/{repository}/blobs/uploads/", (202,), what).headers["Location"]
        self._request("PUT", location, (201,), what, params={"digest": digest}, data=data,
                      headers={"Content-Type": "application/octet-stream"})

    def put_manifest(self, repository: str, tag: str, image: Image) -> str:
        resp = self._request("PUT", f"/v2/{repository}/manifests/{tag}", (201,), f"pushing the manifest {repository}:{tag}",
                             data=image.manifest, headers={"Content-Type": image.media_type})
        returned = resp.headers.get("Docker-Content-Digest", image.digest)
        if returned != image.digest:
            raise RegistryError(f"the registry stored the manifest as {returned}, expected {image.digest}")
        return image.digest

    def _request(self, method: str, path: str, expect: tuple[int, ...], what: str, **kwargs) -> requests.Response:
        url = path if path.startswith("http") else requests.compat.urljoin(self.base_url, path)
        headers = kwargs.pop("headers", {})
        for _ in range(MAX_CHALLENGES + 1):
            try:
                resp = self.session.request(method, url, headers={**headers, **self.auth.header},
                                            timeout=self.timeout, **kwargs)
            except requests.exceptions.SSLError as exc:
                raise RegistryError(f"{what}: TLS failed with {self.registry} ({exc}); "
                                    "a plain-HTTP registry needs --insecure") from None
            except requests.RequestException as exc:
                raise RegistryError(f"{what}: cannot reach registry {self.registry}: {exc}") from None
            if resp.status_code != 401:
                break
            challenge = resp.headers.get("WWW-Authenticate", "")
            if not challenge:
                raise RegistryError(f"{what}: registry {self.registry} answered 401 without a challenge", 401)
            before = dict(self.auth.header)
            self.auth.answer(challenge, self.registry)
            if self.auth.header == before:
                raise self.auth.rejected(self.registry)
        else:
            raise self.auth.rejected(self.registry)
        if resp.status_code not in expect:
            raise RegistryError(f"{what}: {describe(resp)}", resp.status_code)
        return resp


def describe(resp: requests.Response) -> str:
    """`404 Not Found from <url>: MANIFEST_UNKNOWN: manifest unknown`, from the registry's error body."""
    text = f"{resp.status_code} {resp.reason} from {resp.request.method} {resp.url.split('?')[0]}"
    try:
        errors = resp.json().get("errors") or []
    except ValueError:
        errors = []
    details = "; ".join(f"{e.get('code', '?')}: {e.get('message', '')}" for e in errors if isinstance(e, dict))
    if details:
        return f"{text}: {details}"
    body = resp.text.strip()[:200] if resp.request.method != "HEAD" else ""
    return f"{text}: {body}" if body else text
