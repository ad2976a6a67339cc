"""IoT Hub service access for the operator commands: the connection string, the SDK's registry and
configuration managers, paged twin queries, and hub errors turned into one clear message each."""

from __future__ import annotations

import base64
import binascii
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

from .errors import HubError, UsageError
from .hub_retry import RetryPolicy, with_retries

T = TypeVar("T")

ENV_CONNECTION_STRING = "IOTHUB_CONNECTION_STRING"
QUERY_PAGE_SIZE = 1000

_PERMISSIONS = "the shared access policy needs 'Registry write' and 'Service connect' (e.g. iothubowner)"

#: One line per hub status: what it means for the operator and what to do next.
STATUS_HINTS = {
    400: "the hub rejected the request as malformed (400)",
    401: f"the hub refused the credentials (401 Unauthorized): check the connection string's "
         f"SharedAccessKeyName and SharedAccessKey; {_PERMISSIONS}",
    403: f"the hub refused the operation (403 Forbidden): {_PERMISSIONS}, and the hub's quota must not be exhausted",
    404: "{what} was not found (404): check the name and that it exists on this hub",
    409: "{what} already exists (409 Conflict): choose another name or delete the old one",
    412: "{what} changed since it was read (412 Precondition Failed, etag mismatch): someone else "
         "updated it; re-run the command to apply the change on the latest version",
    429: "the hub kept throttling requests (429 Too Many Requests) past the retry budget, honouring its "
         "Retry-After each time: wait a few minutes and re-run; the command is safe to repeat",
    500: "the hub had an internal error (500): try again later",
    503: "the hub is unavailable (503 Service Unavailable): try again later",
}


@dataclass(frozen=True)
class HubConnection:
    """A parsed service (hub-level) connection string."""

    hostname: str
    key_name: str
    key: str

    @property
    def text(self) -> str:
        return f"HostName={self.hostname};SharedAccessKeyName={self.key_name};SharedAccessKey={self.key}"


def parse_connection_string(text: str | None) -> HubConnection:
    """Check the connection string before any request, so a typo is named instead of failing as a 401."""
    text = (text or os.environ.get(ENV_CONNECTION_STRING) or "").strip()
    if not text:
        raise UsageError(f"no hub connection string: pass --hub-connection-string or set {ENV_CONNECTION_STRING} "
                         f"(az iot hub connection-string show --hub-name HUB --policy-name iothubowner)")
    fields = {}
    for part in filter(None, text.split(";")):
        key, sep, value = part.partition("=")
        if not sep:
            raise UsageError(f"connection string part {key!r} is not KEY=VALUE")
        fields[key.strip()] = value.strip()
    if "DeviceId" in fields or "ModuleId" in fields:
        raise UsageError("that is a device or module connection string; the operator commands need the hub's "
                         f"service connection string (HostName, SharedAccessKeyName, SharedAccessKey); {_PERMISSIONS}")
    missing = [k for k in ("HostName", "SharedAccessKeyName", "SharedAccessKey") if not fields.get(k)]
    if missing:
        raise UsageError(f"the connection string lacks {', '.join(missing)}")
    try:
        base64.b64decode(fields["SharedAccessKey"], validate=True)
    except binascii.Error:
        raise UsageError("the connection string's SharedAccessKey is not base64") from None
    return HubConnection(fields["HostName"], fields["SharedAccessKeyName"], fields["SharedAccessKey"])


def _hub_message(body: str) -> str:
    try:
        message = json.loads(body).get("Message", "")
    except (ValueError, AttributeError):
        message = body
    return " ".join(str(message).split())[:300]


@contextmanager
def calling(what: str) -> Iterator[None]:
    """Turn the SDK's exceptions into a HubError whose message says what failed and what to do."""
    from msrest.exceptions import ClientRequestError, HttpOperationError

    try:
        yield
    except HttpOperationError as exc:
        status = exc.response.status_code if exc.response is not None else None
        hint = STATUS_HINTS.get(status, f"the hub answered {status}").format(what=what)
        detail = _hub_message(exc.response.text) if exc.response is not None else ""
        raise HubError(f"{what}: {hint}" + (f" [hub says: {detail}]" if detail else ""), status) from None
    except ClientRequestError as exc:
        raise HubError(f"{what}: cannot reach the hub ({_short(exc)}); check HostName, the network, "
                       "and REQUESTS_CA_BUNDLE if a proxy or private CA is in the way") from None


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 240 else text[:237] + "..."


class Hub:
    """The SDK managers the commands need, created from one connection string. Every call goes through
    `call`: a 429 is waited out (Retry-After) and re-sent, any other error becomes one HubError."""

    def __init__(self, connection: HubConnection, retry: RetryPolicy | None = None):
        try:
            from azure.iot.hub import IoTHubConfigurationManager, IoTHubJobManager, IoTHubRegistryManager
        except ImportError as exc:  # an operator-side dependency, not in the runtime image
            raise UsageError(f"the hub commands need the IoT Hub service SDK ({exc}): "
                             "pip install -r requirements/operator.txt (or: pip install '.[operator]')") from None

        self.connection = connection
        self.retry = retry or RetryPolicy()
        self.registry = IoTHubRegistryManager.from_connection_string(connection.text)
        self.configurations = IoTHubConfigurationManager.from_connection_string(connection.text)
        self.jobs = IoTHubJobManager.from_connection_string(connection.text)
        for manager in (self.registry, self.configurations, self.jobs):
            # urllib3 under the SDK would retry a GET/PUT 429 that carries Retry-After by itself, three
            # times, then raise a RetryError without the response: one policy (ours) must see every 429.
            manager.protocol.config.retry_policy.policy.respect_retry_after_header = False

    def call(self, what: str, request: Callable[[], T]) -> T:
        with calling(what):
            return with_retries(what, request, self.retry)

    def module_twin(self, device_id: str, module_id: str) -> Any:
        return self.call(f"module twin {device_id}/{module_id}",
                         lambda: self.registry.get_module_twin(device_id, module_id))

    def patch_module_twin(self, device_id: str, module_id: str, patch: dict, etag: str | None) -> Any:
        return self.call(f"module twin {device_id}/{module_id}",
                         lambda: self.registry.update_module_twin(device_id, module_id, patch, etag))

    def patch_device_tags(self, device_id: str, tags: dict, etag: str | None) -> Any:
        return self.call(f"device twin {device_id}", lambda: self.registry.update_twin(device_id, {"tags": tags}, etag))

    def query(self, text: str) -> Iterator[Any]:
        """Every twin the query returns, page after page (the hub pages with x-ms-continuation)."""
        from azure.iot.hub.models import QuerySpecification

        token = None
        while True:
            result = self.call(f"query {text[:200]!r}", lambda: self.registry.query_iot_hub(
                QuerySpecification(query=text), token, QUERY_PAGE_SIZE))
            yield from result.items or []
            token = result.continuation_token
            if not token:
                return

    def configuration(self, config_id: str) -> Any | None:
        """The configuration, or None when the hub has none of that id."""
        from msrest.exceptions import HttpOperationError

        try:
            return with_retries(f"configuration {config_id}",
                                lambda: self.configurations.get_configuration(config_id), self.retry)
        except HttpOperationError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                return None
            with calling(f"configuration {config_id}"):
                raise

    def create_configuration(self, configuration: Any) -> Any:
        try:
            return self.call(f"configuration {configuration.id}",
                             lambda: self.configurations.create_configuration(configuration))
        except HubError as exc:
            # A 409 on a configuration carrying our very labels is our own create, answered by the hub
            # but lost on the way back and re-sent by urllib3 (a PUT is retried as idempotent).
            existing = self.configuration(configuration.id) if exc.status == 409 else None
            if existing is None or (existing.labels or {}) != (configuration.labels or {}):
                raise
            return existing

    def job(self, job_id: str) -> Any | None:
        """A scheduled job (JobResponse), or None when the hub has none of that id."""
        from msrest.exceptions import HttpOperationError

        try:
            return with_retries(f"job {job_id}", lambda: self.jobs.get_scheduled_job(job_id), self.retry)
        except HttpOperationError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                return None
            with calling(f"job {job_id}"):
                raise

    def create_job(self, job_id: str, request: Any) -> Any:
        return self.call(f"job {job_id}", lambda: self.jobs.create_scheduled_job(job_id, request))

    def active_jobs(self) -> list[Any]:
        """Twin-update jobs the hub has queued or running (any owner), newest first as the hub lists them."""
        found = []
        for status in ("queued", "running"):
            result = self.call(f"jobs {status}", lambda: self.jobs.query_scheduled_jobs("scheduleUpdateTwin", status))
            found += [item for item in (result.items or [])]
        return found
