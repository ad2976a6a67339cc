"""UpdateManager: wires the update pipeline to the agent (restore at start, desired state, rollback, reload).

One model change runs at a time (a lock shared by the reconciler's worker, rollback and reload). A new
candidate is verified and tried in a child process (trial.py), then, with the activating mark written
(quarantine.py), loaded and canaried live while the old one serves; agent.activate swaps the slot, then
the store's pointers switch and the mark goes. Any failure leaves the old model serving and says why in
reported `model`; a death during activation quarantines the candidate at the next start.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import UpdateError
from ..reported import short
from ..runtime import fingerprint
from ..scoring.slot import LoadedModel
from . import candidate, section as section_mod, verify
from .fetch import Cancelled, Throttle, UrlFetcher, fetch_inline, finish_url, partial_path, session_for
from .reconciler import Reconciler
from .section import ModelSection
from .quarantine import Quarantine
from .store import FILE_NAMES, MANIFEST, Store
from .testhooks import kill_at, pause_at

log = logging.getLogger(__name__)

#: How long POST /admin/rollback or /admin/reload waits for an update in progress before answering 409.
ADMIN_WAIT_S = 5.0


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class UpdateManager:
    def __init__(self, agent: Any):
        self.agent = agent
        self.store = Store(agent.settings.agent.data_dir, agent.settings.updates.keep_versions)
        self.quarantine = Quarantine(self.store.root)
        self._lock = threading.Lock()
        agent.reported.patch({"runtime": fingerprint()})
        self.reconciler = Reconciler(self._parse, self._apply, self._invalid, self._failed)

    @property
    def settings(self):
        return self.agent.settings

    # -- the agent's interface ----------------------------------------------------------------------

    def restore(self) -> bool:
        """At start: a newer baked model, else current, else previous, else the baked one; False = embedded.
        A version quarantined (now, from a mark left by a crash, or before) is skipped."""
        self.quarantine.after_crash()
        quarantined = self.quarantine.record()
        if quarantined:
            self._report(quarantined=quarantined)
        pointers = self.store.pointers()
        current, previous = pointers.get("current"), pointers.get("previous")
        baked = self._baked()
        if baked is not None and self.quarantine.blocks(str(baked[0].get("version"))):
            baked = None
        baked_first = baked is not None and (current is None or verify.is_older(current, baked[0]["version"]))
        steps = ([("baked", None)] if baked_first else []) + [("store", current), ("store", previous)]
        steps += [] if baked_first or baked is None else [("baked", None)]
        with self._lock:
            for kind, version in steps:
                try:
                    if kind == "baked":
                        self._adopt_baked(*baked)
                        return True
                    if version and not self.quarantine.blocks(version) and self._restore_version(version):
                        return True
                except UpdateError as exc:
                    log.error("stored model refused at start", extra={
                        "model_version": version or baked[0].get("version"), "stage": exc.stage, "error": str(exc)})
                    self._report(status="failed", error=short(f"{exc.stage}: {exc}"))
        return False

    def desired(self, section: Any, version: Any, whole: bool = False) -> None:
        self.reconciler.desired(section, version, whole)

    def rollback(self) -> dict:
        """Back to the previous version in the store, without a download (POST /admin/rollback)."""
        with self._admin_lock():
            active = self.agent.slot.current
            previous = self.store.pointers().get("previous")
            if not previous or not self.store.manifest(previous):
                raise UpdateError("there is no previous version in the store to roll back to", stage="rollback")
            if active is not None and active.source != "embedded":  # the rule a desired downgrade obeys
                verify.check_downgrade(self.store.manifest(previous), self.settings.updates.public_key, active.version)
            model = self._load_stored(previous, "store", mark=True)
            left = {"version": active.version, "sha256": active.sha256} if active else None
            self._switch(model, "rolled_back", rolled_back_from=left)
            return self.agent.reported.snapshot("model")

    def reload(self) -> dict:
        """Load the store's current version again (verify, safe load, canary), end a manual rollback, and
        reconcile the desired state again (POST /admin/reload). Lifts a quarantine: the desired version
        it held back is tried again."""
        with self._admin_lock():
            lifted = self._lift_quarantine("reload")
            current = self.store.pointers().get("current")
            if not current or not self.store.manifest(current):
                if not lifted:
                    raise UpdateError("the store holds no current version to reload", stage="reload")
            else:
                model = self._load_stored(current, "store", mark=True)
                self._switch(model, "active")
        self.reconciler.retry()
        return self.agent.reported.snapshot("model")

    def stop(self) -> None:
        self.reconciler.stop()

    # -- the pipeline (reconciler worker) -----------------------------------------------------------

    def _parse(self, raw: dict) -> ModelSection:
        return section_mod.parse(raw, self.settings.updates.max_model_bytes)

    def _apply(self, section: ModelSection, version: Any, cancel: threading.Event) -> None:
        with self._lock:
            active = self.agent.slot.current
            if active and active.version == section.version and active.sha256 == section.sha256:
                was = self.agent.reported.snapshot("model").get("status")
                self._report(status="rolled_back" if was == "rolled_back" else "active",
                             desired_version=section.version, error=None)
                return
            pointers = self.store.pointers()
            if pointers.get("rolled_back_from") == {"version": section.version, "sha256": section.sha256}:
                log.info("desired version was rolled back by hand; waiting for a new one",
                         extra={"model_version": section.version})
                return
            self._check_quarantine(section)
            log.info("model update started", extra={"model_version": section.version, "size": section.size,
                                                   "delivery": "inline" if section.inline else "url"})
            self._report(status="verifying", desired_version=section.version, error=None, size=section.size)
            self._refuse_reused_version(section, pointers)
            manifest = section.manifest()
            incoming = candidate.features_of(manifest)
            history = self.agent.service.history
            if incoming is not None:  # hold history for its windows from now on, so it swaps in warm
                history.require(incoming)
            try:
                self._apply_manifest(section, manifest, pointers, active, cancel)
            finally:
                if incoming is not None:
                    history.release(incoming)  # activate() holds it again when it serves

    def _apply_manifest(self, section: ModelSection, manifest: dict, pointers: dict, active, cancel) -> None:
        reference = active.version if active and active.source != "embedded" else None
        verify.check_manifest(manifest, self.settings.updates.public_key, reference)
        if self.store.has(section.version, section.sha256):
            path = self.store.model_path(section.version)
        else:
            path = self._download(section, manifest, cancel)
        self._report(status="loading")
        try:
            model = self._open_candidate(path, {**manifest, "file": path.name}, "update", check_manifest=False)
        except UpdateError:
            if section.version not in (pointers.get("current"), pointers.get("previous")):
                self.store.remove(section.version)  # a refused version is not kept for a later start
            raise
        if cancel.is_set():
            self.quarantine.clear_mark()
            raise Cancelled("superseded by a newer desired model")
        rolled_back = section.version == pointers.get("previous") and bool(
            active and verify.is_older(section.version, active.version))
        self._switch(model, "rolled_back" if rolled_back else "active")

    def _refuse_reused_version(self, section: ModelSection, pointers: dict) -> None:
        """A version name in use (current or previous) with other bytes would make rollback ambiguous."""
        stored = self.store.manifest(section.version)
        in_use = section.version in (pointers.get("current"), pointers.get("previous"))
        if in_use and stored and stored.get("sha256") != section.sha256:
            raise UpdateError(f"version {section.version} is already in the store with another sha256; "
                              "publish the new model under a new version", stage="validate")

    def _download(self, section: ModelSection, manifest: dict, cancel: threading.Event) -> Path:
        out = self.store.stage(section.version, section.format)
        partial = None
        self._report(status="downloading", bytes_fetched=0)
        try:
            if section.inline is not None:
                fetched = fetch_inline(section, out)
            else:
                partial = partial_path(self.store.partial_dir, section)
                for other in self.store.partial_dir.glob("*.part"):
                    if other != partial:
                        other.unlink(missing_ok=True)
                throttle = Throttle(lambda n: self._report(bytes_fetched=n))
                session = session_for(self.settings.updates, self.store.root)
                UrlFetcher(section, self.settings.updates, partial, session, throttle, cancel).run()
                throttle.flush()
                fetched = partial.stat().st_size
                finish_url(section, partial, out)
            self._report(status="verifying", bytes_fetched=fetched)
            verify.check_file(out, section.sha256, section.size)
            pause_at("before_rename")
            path = self.store.commit(out, manifest)
        except Cancelled:
            self.store.discard(out)
            raise
        except UpdateError as exc:
            self.store.discard(out)
            if partial is not None and (exc.stage == "verify" or getattr(exc, "final", False)):
                partial.unlink(missing_ok=True)  # wrong bytes: the next attempt starts from zero
            raise
        except BaseException:
            self.store.discard(out)
            raise
        if partial is not None:
            partial.unlink(missing_ok=True)
        return path

    def _switch(self, model: LoadedModel, status: str, rolled_back_from: dict | None = None) -> None:
        """The one-reference swap first, then the pointers, then the activating mark goes: a version becomes
        current in the store only once it serves here; a death before that quarantines it (quarantine.py)."""
        old = self.agent.slot.current
        pointers = self.store.pointers()
        # The version being left: the active one, or at start (nothing active yet) the store's current.
        leaving = pointers.get("current") if old is None else (None if old.source == "embedded" else old.version)
        previous = leaving if leaving not in (None, model.version) else pointers.get("previous")
        previous = None if previous == model.version else previous
        pause_at("before_swap")
        try:
            self.agent.activate(model)
        except BaseException:
            self.quarantine.clear_mark()  # a clean failure here, the old model still serving: no quarantine
            raise
        pause_at("before_pointers")
        self.store.set_pointers(model.version, previous, rolled_back_from)
        self.quarantine.clear_mark()
        log.info("model activated", extra={"model_version": model.version, "source": model.source, "status": status})
        removed = self.store.prune()
        if removed:
            log.info("old versions removed from the store", extra={"model_version": model.version, "removed": removed})
        self._report(
            version=model.version, sha256=model.sha256, status=status, error=None, activated_at=_now(),
            previous_version=previous, size=int(model.manifest.get("size", 0)) or None, source=model.source,
        )

    # -- start-up sources ---------------------------------------------------------------------------

    def _open_candidate(self, path: Path, manifest: dict, source: str, check_manifest: bool = True) -> LoadedModel:
        """A new candidate (an update, the baked model) is tried in a child first, unless these very bytes
        passed a trial before (the twin asking again for a stored version); the pass is recorded."""
        version, sha256 = str(manifest["version"]), str(manifest["sha256"])
        tried = self.store.trial_passed(version, sha256)
        result = candidate.vet(path, manifest, self.settings, check_manifest, trial=not tried)
        if result is not None:
            self.store.record_trial(version, sha256, dataclasses.asdict(result))
        else:
            log.info("candidate passed a trial before; not tried again", extra={"model_version": version})
        return self._open_marked(path, manifest, source)

    def _open_marked(self, path: Path, manifest: dict, source: str) -> LoadedModel:
        """Open in the live process with the activating mark written first; _switch removes it once the
        model serves, a clean refusal here removes it at once."""
        version = str(manifest["version"])
        self.quarantine.mark(version, str(manifest["sha256"]), source)
        try:
            kill_at("activating", version)
            return candidate.open_live(path, manifest, self.settings, source)
        except BaseException:
            self.quarantine.clear_mark()
            raise

    def _load_stored(self, version: str, source: str, mark: bool = False) -> LoadedModel:
        """A version that already served (restore at start, rollback, reload): the sha256 is checked again,
        the trial is not (it passed one before it first served). mark=True (rollback, reload) writes the
        activating mark; a restore at start does not (a power cut while starting must not quarantine the
        model that served last)."""
        manifest = self.store.manifest(version)
        if not manifest:
            raise UpdateError(f"version {version} has no readable manifest in the store", stage="verify")
        path = self.store.model_path(version)
        candidate.vet(path, manifest, self.settings, trial=False)
        if mark:
            return self._open_marked(path, manifest, source)
        return candidate.open_live(path, manifest, self.settings, source)

    # -- quarantine ---------------------------------------------------------------------------------

    def _check_quarantine(self, section: ModelSection) -> None:
        """The quarantined version is refused (final: no retry); any other desired version lifts it."""
        record = self.quarantine.record()
        if not record:
            return
        if record.get("version") != section.version:
            self._lift_quarantine(f"new desired version {section.version}")
            return
        raise UpdateError(f"version {section.version}: {record.get('reason')}; publish a new "
                          "version, or POST /admin/reload (or the reload direct method) to try it again",
                          stage="quarantined")

    def _lift_quarantine(self, why: str) -> bool:
        lifted = self.quarantine.clear(why)
        if lifted:
            self._report(quarantined=None)
        return lifted is not None

    def _restore_version(self, version: str) -> bool:
        model = self._load_stored(version, "store")
        self.agent.activate(model)
        pointers = self.store.pointers()
        self._report(version=model.version, sha256=model.sha256, status="active", error=None,
                     activated_at=_now(), previous_version=pointers.get("previous") if version != pointers.get(
                         "previous") else None, size=int(model.manifest.get("size", 0)) or None, source="store")
        return True

    def _baked(self) -> tuple[dict, Path] | None:
        directory = Path(self.settings.updates.baked_model_dir)
        try:
            manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
            path = directory / Path(manifest.get("file") or FILE_NAMES[manifest.get("format", "pickle")]).name
            if not section_mod.VERSION_PATTERN.fullmatch(str(manifest["version"])):
                raise ValueError(f"bad version {manifest['version']!r} in {MANIFEST}")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, UpdateError) as exc:
            log.error("baked model unreadable", extra={"model_version": None, "path": str(directory), "error": str(exc)})
            return None
        return manifest, path

    def _adopt_baked(self, manifest: dict, path: Path) -> None:
        """The baked model enters the store like any update (so rollback and restarts work the same way)."""
        verify.check_manifest(manifest, self.settings.updates.public_key, None)
        out = self.store.stage(str(manifest["version"]), manifest.get("format", "pickle"))
        try:
            shutil.copyfile(path, out)
            verify.check_file(out, manifest["sha256"], int(manifest["size"]))
            stored = self.store.commit(out, manifest)
        except OSError as exc:
            self.store.discard(out)
            raise UpdateError(f"cannot copy the baked model: {exc}", stage="store") from None
        except BaseException:
            self.store.discard(out)
            raise
        model = self._open_candidate(stored, self.store.manifest(str(manifest["version"])), "baked")
        self._switch(model, "active")

    # -- reporting ----------------------------------------------------------------------------------

    def _report(self, **fields: Any) -> None:
        self.agent.reported.patch({"model": fields})

    def _invalid(self, exc: UpdateError, version: Any) -> None:
        active = self.agent.slot.current
        log.warning("desired model section refused", extra={
            "model_version": active and active.version, "stage": exc.stage, "error": str(exc)})
        self._report(status="failed", error=short(f"{exc.stage}: {exc}"))

    def _failed(self, exc: UpdateError, section: ModelSection, version: Any) -> None:
        active = self.agent.slot.current
        log.error("model update refused; the old model keeps serving", extra={
            "model_version": active and active.version, "desired_version": section.version,
            "stage": exc.stage, "error": str(exc)})
        self._report(status="failed", error=short(f"{exc.stage}: {exc}"), desired_version=section.version)

    @contextlib.contextmanager
    def _admin_lock(self):
        if not self._lock.acquire(timeout=ADMIN_WAIT_S):
            raise UpdateError("a model update is in progress; try again when it has finished", stage="busy")
        try:
            yield
        finally:
            self._lock.release()
