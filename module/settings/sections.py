"""The settings sections, one pydantic model each, with their defaults and bounds: what each key means
(the attribute docstring under it, which docs/settings.md is generated from) and which values it takes."""

from __future__ import annotations

import ipaddress
import math
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: SimulatedTemperatureSensor's numeric fields, in the order the embedded default model expects.
DEFAULT_FEATURES = (
    "machine.temperature",
    "machine.pressure",
    "ambient.temperature",
    "ambient.humidity",
)
DEFAULT_HTTP_PORT = 8080
DEFAULT_MAX_BODY_BYTES = 1 << 20
#: Connections the HTTP server holds: a module network has a handful of modules, each with a few.
DEFAULT_MAX_CONNECTIONS = 128
DEFAULT_MAX_MODEL_BYTES = 64 << 20
#: A slow cellular link, for the default download deadline.
SLOW_LINK_BYTES_PER_S = 16 * 1024
DOWNLOAD_DEADLINE_FLOOR_S = 300.0
#: The trial child's address-space limit (docs/security.md, "The trial"): see UpdatesSection.trial_memory_mb.
DEFAULT_TRIAL_MEMORY_MB = 512
DEFAULT_MODEL_NAME = "edgemodelagent"


def numbered_to_list(value: Any) -> Any:
    """Twins allow no arrays, so lists travel as {"0": a, "1": b}; accept both shapes."""
    if isinstance(value, Mapping):
        try:
            keys = sorted(value, key=int)
        except (TypeError, ValueError):
            raise ValueError("a list in a twin is an object with keys 0, 1, 2, ...") from None
        if [int(k) for k in keys] != list(range(len(keys))):
            raise ValueError("numbered keys must be 0..n-1 without gaps")
        return [value[k] for k in keys]
    return value


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class AgentSection(Section):
    """The process: where it keeps its data, how it logs, where its desired state comes from."""

    data_dir: Path = Path("data")
    """Where model versions, the partial downloads and the default model live (a host bind mount)."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """JSON log lines on stdout at this level and above (the SDK's own chatter starts at warning)."""
    local: bool = False
    """Run without the IoT Edge SDK (HTTP and --desired only); also chosen, and logged, when neither
    EdgeHubConnectionString / IOTEDGE_WORKLOADURI nor edge.connection_string is present."""
    desired_file: Path | None = None
    """A YAML/JSON file shaped like the twin's desired properties, watched for changes."""
    desired_poll_s: float = Field(1.0, gt=0, le=60)
    """How often the desired file is checked for new bytes."""
    entry_script: Path | None = None
    """An Azure ML scoring script (init/run); only ever read from the image or local disk."""
    default_model: Literal["simulated-sensor", "nab-forest"] | None = None
    """The model served until an update arrives, trained at start: `simulated-sensor` (embedded-default-2,
    SimulatedTemperatureSensor's normal behaviour over a windowed feature spec) or `nab-forest`
    (embedded-default-1, the point-wise IsolationForest on NAB readings, read by `scoring.features`).
    Unset: `simulated-sensor`, or `nab-forest` with an `entry_script` (a script scores each message
    itself, so it cannot feed a windowed model)."""

    @property
    def embedded_model(self) -> str:
        """default_model, resolved."""
        if self.default_model is not None:
            return self.default_model
        return "nab-forest" if self.entry_script is not None else "simulated-sensor"

    @field_validator("entry_script")
    @classmethod
    def _script_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value


class HttpSection(Section):
    """The local HTTP API (/score, /model, /metrics, /admin, /v2) other modules and clients call."""

    enabled: bool = True
    """Serve the HTTP API (waitress); off leaves edgeHub routes as the only way in."""
    host: str = "0.0.0.0"
    """Address to listen on: all interfaces, so other modules reach it on the module network."""
    port: int = Field(DEFAULT_HTTP_PORT, ge=0, le=65535)
    """0 picks a free port (logged in "http listening")."""
    threads: int = Field(16, ge=1, le=256)
    """waitress worker threads: requests served at once (the micro-batcher joins their rows)."""
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1024)
    """Larger bodies get 413 from their Content-Length alone, before any of the body is read."""
    model_name: str = Field(DEFAULT_MODEL_NAME, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """The model's name on the Open Inference Protocol routes (/v2/models/<model_name>/...)."""
    admin_token: str | None = Field(None, min_length=16, repr=False)
    """A shared secret that opens POST /admin/rollback, /admin/reload and the full GET /model over HTTP:
    callers send "Authorization: Bearer <token>". Set it from the environment (AGENT_HTTP_ADMIN_TOKEN, e.g.
    from the deployment's env), never in an image; at least 16 characters. Unset: those routes answer 403."""
    admin_host: str | None = None
    """A loopback address (127.0.0.1, ::1) for a second listener where the admin routes and the full GET
    /model need no token: for a process on the device itself (docker exec, the host in host networking).
    Any other address is refused: on the module network a listener without a credential is open to every peer."""
    admin_port: int = Field(8081, ge=0, le=65535)
    """The admin listener's port, with http.admin_host (0 picks a free one, logged in "http listening")."""
    max_connections: int = Field(DEFAULT_MAX_CONNECTIONS, ge=8, le=10_000)
    """Open connections held at most; at the limit a new one closes the connection idle longest (one that
    never finished its headers first), so idle or slow peers cannot lock a client out."""
    idle_timeout_s: float = Field(30.0, gt=0, le=3600)
    """A kept-alive connection with no request in flight is closed after this long without a byte."""
    header_timeout_s: float = Field(5.0, gt=0, le=300)
    """A request's headers must arrive whole within this long of its first byte (or of the connection's
    opening): a slowloris peer sending a header line now and then is closed."""

    @field_validator("admin_host")
    @classmethod
    def _loopback_only(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            loopback = ipaddress.ip_address(value).is_loopback
        except ValueError:
            raise ValueError("must be a loopback IP address such as 127.0.0.1 or ::1 (not a name)") from None
        if not loopback:
            raise ValueError("must be a loopback address (127.0.0.0/8 or ::1): a listener without a token on "
                             "another interface would let any peer on the network roll the model back; "
                             "use http.admin_token for remote callers")
        return value


class ScoringSection(Section):
    """How telemetry becomes rows and rows become scores; live from the desired state."""

    threshold: float | None = None
    """score < threshold is an anomaly; None uses the model's own cut-off (IsolationForest offset_)."""
    features: tuple[str, ...] = DEFAULT_FEATURES
    """Dotted field paths into the telemetry JSON, in the order the model expects its columns: a list, or a
    numbered object {"0": ..., "1": ...} as twins need; refused live when the active model expects another count."""
    max_batch: int = Field(256, ge=1, le=100_000)
    """The batcher stops collecting once it holds this many rows (one request is never split)."""
    max_wait_ms: float = Field(2.0, ge=0, le=1000)
    """How long the batcher waits for more requests after the first one, and only under concurrent load."""
    compiled: bool = True
    """Use the compiled forest scorer when it reproduces scikit-learn bit for bit."""
    inline_max_rows: int = Field(64, ge=0, le=100_000)
    """With a cheap scorer (the compiled forest), requests of at most this many rows are scored on the
    thread that received them instead of the batcher's; 0 sends every request through the batcher."""

    _split_features = field_validator("features", mode="before")(numbered_to_list)

    @field_validator("threshold")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("features")
    @classmethod
    def _paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one feature path is needed")
        for path in value:
            if not path or any(not part for part in path.split(".")):
                raise ValueError(f"bad field path {path!r}")
        return value


class UpdatesSection(Section):
    """The model-update pipeline: downloads, verification, the store; read at start."""

    max_model_bytes: int = Field(DEFAULT_MAX_MODEL_BYTES, ge=1)
    """Largest model file accepted (64 MiB); also caps every download."""
    public_key: str | None = None
    """Ed25519 public key (PEM text, a path to a PEM file, or raw base64); signatures required if set."""
    extra_ca: Path | None = None
    """A PEM CA file trusted for https downloads beside the system's (e.g. an on-site mirror's private CA)."""
    keep_versions: int = Field(3, ge=2, le=50)
    """Model versions kept in the store (current and previous always)."""
    connect_timeout_s: float = Field(10.0, gt=0)
    """Per download request: seconds to connect."""
    read_timeout_s: float = Field(30.0, gt=0)
    """Per download request: a stall past this resumes the download with a Range request."""
    download_deadline_s: float | None = Field(None, gt=0)
    """Longest one URL download may take in all, retries and resumes included (a server trickling bytes
    never trips the per-read timeout). Unset: updates.max_model_bytes at a slow cellular 16 KiB/s, at least
    5 minutes (about 68 minutes for the default 64 MiB)."""
    retries: int = Field(6, ge=0, le=100)
    """Retries without progress before an update is reported failed (the download is tried again 5 minutes later)."""
    backoff_base_s: float = Field(1.0, ge=0)
    """First wait between retries; it doubles each time (times a jitter of 0.5-1.0)."""
    backoff_max_s: float = Field(60.0, ge=0)
    """Longest wait between retries."""
    allowed_globals: tuple[str, ...] = ()
    """Extra "module.name" globals the restricted unpickler admits, beside the built-in allow-list."""
    baked_model_dir: Path = Path("/app/model")
    """Where a model image's tiny layer puts the model and its manifest.json."""
    trial_memory_mb: int = Field(DEFAULT_TRIAL_MEMORY_MB, ge=128, le=1 << 20)
    """Address space (RLIMIT_AS, MiB) of the child process that unpickles, checks and first scores every
    new candidate before the live process does. A file that needs more is refused with a memory reason.
    The default leaves room for Python, numpy, scikit-learn and a 100-tree IsolationForest (measured on
    x86_64 with one BLAS thread: 230 MiB of address space, 128 MiB touched; importing them alone needs
    about 210 MiB, 160 MiB is too little) plus a few times updates.max_model_bytes, and keeps agent plus
    child well under the memory of a 1 GB Raspberry Pi (arm32v7 maps less), so a bomb in a model file
    fails in the child with MemoryError instead of reaching the OOM killer."""
    trial_timeout_s: float = Field(60.0, gt=0, le=3600)
    """Wall-clock limit of that child (interpreter start and imports included, a few seconds on a Pi);
    past it the child is killed and the update is refused (a model that spins forever)."""

    def effective_download_deadline_s(self) -> float:
        """The overall deadline of one URL download, from the setting or scaled to max_model_bytes."""
        if self.download_deadline_s is not None:
            return self.download_deadline_s
        return max(DOWNLOAD_DEADLINE_FLOOR_S, self.max_model_bytes / SLOW_LINK_BYTES_PER_S)

    _split_globals = field_validator("allowed_globals", mode="before")(numbered_to_list)


class UpstreamSection(Section):
    """What the "upstream" output sends over the paid link; live from the desired state."""

    mode: Literal["all", "anomalies", "summary"] = "anomalies"
    """What goes to the "upstream" output (routed to IoT Hub): every result, anomalies only, or summaries only."""
    summary_every_s: float = Field(300.0, gt=0)
    """One summary (counts per window) every this many seconds."""


class EdgeSection(Section):
    """The IoT Edge connection (azure-iot-device SDK); read at start."""

    input_name: str = "telemetry"
    """The edgeHub input telemetry arrives on (routes name it: BrokeredEndpoint("/modules/<m>/inputs/<name>"))."""
    buffer_max: int = Field(10_000, ge=1)
    """Outputs held while edgeHub is unreachable; beyond this the oldest are dropped and counted."""
    connection_string: str | None = None
    """A module connection string for development; on a device the edge environment is used."""
    drain_idle_s: float = Field(0.5, ge=0)
    """On SIGTERM, inputs the SDK already acknowledged are still queued: wait this long without a new one."""
    stop_timeout_s: float = Field(8.0, gt=0, le=9.5)
    """Everything on SIGTERM (drain inputs, flush outputs, close) ends within this; edgeAgent kills at 10 s."""
    retry_interval_s: int = Field(10, ge=1, le=3600)
    """Seconds between the SDK's reconnect attempts after the first (it retries once after 10 ms)."""
    keep_alive_s: int = Field(60, ge=5, le=1740)
    """MQTT keep-alive; a hung edgeHub is noticed after about twice this."""
    twin_timeout_s: float = Field(15.0, gt=0)
    """The SDK's sync twin calls never time out on their own; ours give up after this and retry."""
    output_batch: int = Field(1, ge=1, le=1000)
    """Up to this many results per output message, as one JSON list (each result's properties inside
    it under "properties"); 1 sends each result as its own message. For high-rate sensors, and fewer
    messages billed upstream. Summaries are never batched."""
    output_batch_ms: float = Field(50.0, gt=0, le=60_000)
    """With output_batch > 1: a batch that is not full goes out this long after its first result."""


class HistorySection(Section):
    """Per-partition feature history for models with a feature spec (docs/features.md)."""

    max_partitions: int = Field(1_000, ge=1, le=10_000_000)
    """Partitions (senders) held at most; beyond it the least recently seen is dropped (and counted).
    A partition costs 4-12 KB (docs/features.md): 1,000 is ~7 MB for the default, room on a 1 GB device for far more
    sensors than one edge device routes; raise it for a gateway that hears thousands."""
    idle_ttl_s: float = Field(86_400.0, gt=0)
    """A partition that sent nothing for this long is dropped (and counted)."""
    snapshot_every_s: float = Field(60.0, ge=0)
    """How often the history is written to <data_dir>/features.json (atomically); 0: only on SIGTERM."""
