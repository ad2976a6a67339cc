"""The agent: builds the parts from settings, starts them, routes desired state, stops them in order."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable

from .api import admin, oip
from .api.access import ADMIN, PUBLIC, AdminAccess
from .api.app import Core, create_app
from .api.server import HttpServer
from .desired_file import DesiredFile
from .errors import AgentError, SettingsError
from .features import FeatureState, snapshot
from .features.snapshots import Snapshots
from .metrics import Metrics
from .models import embedded
from .reported import Reported, short
from .scoring import entry_script
from .scoring.prepare import prepare
from .scoring.service import ScoringService
from .scoring.slot import LoadedModel, ModelSlot
from .settings import LIVE_SECTIONS, Settings
from .updates.manager import UpdateManager

log = logging.getLogger(__name__)

#: Variables IoT Edge sets for a module; without them (and without a connection string) we run locally.
EDGE_ENVIRONMENT = ("EdgeHubConnectionString", "IOTEDGE_WORKLOADURI")


def edge_environment_present(environ=os.environ) -> bool:
    return any(environ.get(name) for name in EDGE_ENVIRONMENT)


class Agent:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.base_settings = settings
        """File, environment and command line: what a deleted desired key falls back to."""
        self.metrics = Metrics()
        self.slot = ModelSlot()
        self.reported = Reported()
        history = settings.history
        self.feature_history = FeatureState(history.max_partitions, history.idle_ttl_s)
        self.metrics.watch_features(self.feature_history.describe)
        self.service = ScoringService(self.slot, settings.scoring, self.metrics, self.feature_history)
        self.snapshots = Snapshots(self.feature_history, Path(settings.agent.data_dir) / snapshot.FILE_NAME,
                                   history.snapshot_every_s)
        entry_script.configure(settings.agent.entry_script, settings.agent.data_dir)
        self.updater: Any = None
        """The model-update pipeline (updates/); set by start() when it is available."""
        self.edge: Any = None
        self.http: HttpServer | None = None
        self.admin_http: HttpServer | None = None
        """The loopback-only admin listener (http.admin_host), when configured."""
        self.desired_file: DesiredFile | None = None
        self._settings_listeners: list[Callable[[Settings], None]] = []
        self._desired_lock = threading.Lock()
        self.stopped = threading.Event()

    # -- models -------------------------------------------------------------------------------------

    def activate(self, model: LoadedModel) -> LoadedModel | None:
        """Swap `model` into service (it has passed every check already); returns the one it replaced."""
        history = self.service.history
        if model.features is not None:
            history.require(model.features)
        old = self.slot.swap(model)  # model and its feature spec: one reference
        if old is not None and old.features is not None:
            history.release(old.features)
        self.metrics.set_model(model.version, model.sha256, model.scorer.name)
        # Which scorer serves and why (compiled or scikit-learn, see scoring/compiled_forest.py), whatever the source.
        features = model.features.describe() if model.features is not None else {"source": "scoring.features"}
        self.reported.patch({"model": {"scorer": model.scorer.name, "scorer_reason": short(model.scorer_reason),
                                       "features": short(json.dumps(features))}})
        log.info(
            "model active",
            extra={"model_version": model.version, "source": model.source, "previous_version": old and old.version},
        )
        return old

    def load_embedded_default(self) -> LoadedModel:
        """The model agent.default_model names (models/embedded.py), trained now."""
        estimator, payload, spec = embedded.build(self.settings.agent.embedded_model)
        return prepare(
            estimator,
            embedded.manifest(payload, spec),
            source="embedded",
            n_features=spec.width if spec is not None else len(self.settings.scoring.features),
            compiled=self.settings.scoring.compiled,
            features=spec,
        )

    def load_initial_model(self) -> None:
        """The model to serve at start: what the update pipeline restores, else the embedded default."""
        if self.updater.restore():
            return
        self.activate(self.load_embedded_default())

    # -- desired state ------------------------------------------------------------------------------

    def on_settings(self, callback: Callable[[Settings], None]) -> None:
        self._settings_listeners.append(callback)

    def handle_desired(self, doc: dict, whole: bool = False) -> None:
        """Called with a desired patch (merged over what came before, as the twin merges it) or, with
        whole=True, a whole desired document that replaces it (get_twin() on every (re)connect, each
        version of the --desired file), so a key deleted while the device was offline is gone here too.

        Idempotent: the SDK hands over the whole document again after every reconnect.
        """
        version = doc.get("$version")
        with self._desired_lock:
            for name in LIVE_SECTIONS:
                if name in doc:
                    self._apply_section(name, doc[name], version, whole)
                elif whole and getattr(self.settings, name) != getattr(self.base_settings, name):
                    self._apply_section(name, None, version, whole)  # deleted: back to the base settings
        if "model" in doc or whole:
            self.updater.desired(doc.get("model"), version, whole=whole)

    def _apply_section(self, name: str, values: Any, version: Any, whole: bool = False) -> None:
        try:
            new = self.settings.with_sections({name: values}, base=self.base_settings, replace=whole)
            if name == "scoring":
                self.service.apply(new.scoring)
        except (SettingsError, AgentError) as exc:
            log.warning("desired section refused", extra={"section": name, "error": str(exc)})
            self.reported.patch({name: {"status": "refused", "error": short(str(exc)), "desired_version": version}})
            return
        self.settings = new
        for callback in self._settings_listeners:
            callback(new)
        applied = getattr(new, name).model_dump(mode="json")
        if "features" in applied:  # numbered like the twin's; stale numbers beyond the new list deleted
            stale = self.reported.snapshot(name).get("features", {})
            applied["features"] = {**{k: None for k in stale}, **{str(i): f for i, f in enumerate(applied["features"])}}
        # None stays in: in a reported patch it deletes the key, so a cleared threshold stops being reported.
        self.reported.patch({name: {**applied, "status": "applied", "error": None, "desired_version": version}})
        log.info("desired section applied", extra={"section": name, "desired_version": version})

    def report_desired_error(self, message: str | None) -> None:
        """The --desired file could not be read or applied; None: it reads fine again (clears the error)."""
        if message is None:
            self.reported.patch({"desired": {"error": None}})
            return
        log.error("desired state unreadable", extra={"error": message})
        self.reported.patch({"desired": {"error": short(message)}})

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self, local: bool) -> None:
        self.snapshots.start()
        self._start_updater()
        self.load_initial_model()
        if self.settings.http.enabled:
            self._start_http()
        if not local:
            self._start_edge()
        if self.settings.agent.desired_file:
            self.desired_file = DesiredFile(
                self.settings.agent.desired_file,
                self.handle_desired,
                self.report_desired_error,
                self.settings.agent.desired_poll_s,
            )
            self.desired_file.start()
        log.info("agent ready", extra={"model_version": self.slot.current.version, "local": local})

    def _start_http(self) -> None:
        """The public listener, and the loopback-only admin listener when http.admin_host is set."""
        http = self.settings.http
        core = Core(self.service, self.slot, self.metrics, update_state=lambda: self.reported.snapshot("model"))
        core.blueprints.extend(self._blueprints())
        if http.admin_host:
            self.admin_http = self._http_server(create_app(core, http.max_body_bytes, ADMIN), http.admin_host,
                                                http.admin_port, "admin")
            core.access = AdminAccess(http.admin_token, f"{self.admin_http.host}:{self.admin_http.port}")
        else:
            core.access = AdminAccess(http.admin_token)
        self.http = self._http_server(create_app(core, http.max_body_bytes, PUBLIC), http.host, http.port, "public")
        for server in (self.http, self.admin_http):
            if server is not None:
                server.start()

    def _http_server(self, app, host: str, port: int, name: str) -> HttpServer:
        http = self.settings.http
        return HttpServer(app, host, port, http.threads, http.max_body_bytes, name=name,
                          max_connections=http.max_connections, idle_timeout_s=http.idle_timeout_s,
                          header_timeout_s=http.header_timeout_s)

    def _start_updater(self) -> None:
        self.updater = UpdateManager(self)

    def _blueprints(self) -> list:
        """Route groups beside the core ones: admin (rollback, reload) and Open Inference Protocol v2."""
        return [admin.blueprint(self), oip.blueprint(self)]

    def _start_edge(self) -> None:
        from .edge.runtime import EdgeRuntime

        self.edge = EdgeRuntime(self)
        self.edge.start()

    def stop(self) -> None:
        """Stop taking input, finish in-flight work, flush outputs, then close every part."""
        if self.desired_file:
            self.desired_file.stop()
        if self.edge is not None:
            self.edge.stop_input()
        if self.http:
            self.http.stop()
        if self.admin_http:
            self.admin_http.stop()
        self.service.stop()
        self.snapshots.stop()  # after the last message scored: the history on disk is whole
        if self.edge is not None:
            self.edge.shutdown()
        if self.updater is not None:
            self.updater.stop()
        entry_script.configure(None, self.settings.agent.data_dir)
        self.stopped.set()
        log.info("agent stopped")
