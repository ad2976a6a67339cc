"""Command line -> settings -> start the agent; stop it on SIGTERM (how edgeAgent stops a module)."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import signal
import sys
import threading
from pathlib import Path


def _stdlib_distutils() -> None:
    """joblib 1.2 imports distutils. In an environment with setuptools (a venv, the image's /opt/venv),
    setuptools' import hook answers with its own copy and drags in setuptools and pkg_resources: about
    12 MB of RSS and 0.3 s of start-up. Python 3.11's own distutils serves joblib just as well, so the
    agent's process (only it: importing the package changes nothing) drops the hook before joblib loads."""
    shim = sys.modules.get("_distutils_hack")
    if "distutils" not in sys.modules and shim is not None and hasattr(shim, "remove_shim"):
        shim.remove_shim()


_stdlib_distutils()

from . import __version__, logs  # noqa: E402  (after the distutils choice above)
from .agent import Agent, edge_environment_present  # noqa: E402
from .errors import SettingsError  # noqa: E402
from .settings import Settings, load  # noqa: E402

log = logging.getLogger("module")

EXIT_SETTINGS = 2
EXIT_START = 1
#: How often the main thread looks for a stop signal. The kernel may hand SIGTERM to any of the
#: agent's threads; CPython then only flags it for the main thread, and a main thread blocked without
#: a timeout would never run the handler (edgeAgent kills the module 10 s later, outputs unflushed).
SIGNAL_POLL_S = 0.2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m module",
        description="Score telemetry with a model delivered by module twin or tiny image layer.",
    )
    p.add_argument("--local", action="store_true", help="run without IoT Edge (HTTP and --desired only)")
    p.add_argument("--config", type=Path, help="settings YAML (sections: agent, http, scoring, updates, ...)")
    p.add_argument("--desired", type=Path, help="a YAML/JSON file shaped like the twin's desired properties")
    p.add_argument("--data-dir", type=Path, help="where model versions are stored (default ./data)")
    p.add_argument("--http-port", type=int, help="HTTP port (default 8080; 0 picks a free one)")
    p.add_argument("--http-host", help="HTTP address to listen on (default 0.0.0.0)")
    p.add_argument("--entry-script", type=Path, help="an Azure ML scoring script (init/run) from local disk")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p.parse_args(argv)


def overrides(args: argparse.Namespace) -> dict:
    agent: dict = {}
    http: dict = {}
    if args.local:
        agent["local"] = True
    if args.desired:
        agent["desired_file"] = args.desired
    if args.data_dir:
        agent["data_dir"] = args.data_dir
    if args.entry_script:
        agent["entry_script"] = args.entry_script
    if args.http_port is not None:
        http["port"] = args.http_port
    if args.http_host:
        http["host"] = args.http_host
    return {k: v for k, v in {"agent": agent, "http": http}.items() if v}


def choose_local(settings: Settings) -> bool:
    if settings.agent.local:
        log.info("running in local mode (--local or agent.local): no IoT Edge connection")
        return True
    if settings.edge.connection_string or edge_environment_present():
        return False
    log.info("no IoT Edge environment found (EdgeHubConnectionString, IOTEDGE_WORKLOADURI): running in local mode")
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logs.setup()
    try:
        settings = load(args.config, overrides=overrides(args))
    except SettingsError as exc:
        log.error("invalid settings", extra={"error": str(exc)})
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    logs.setup(settings.agent.log_level)
    local = choose_local(settings)
    agent = Agent(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # `docker kill -s USR1 <module>` prints every thread's stack to stderr: how a stuck agent is read.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        agent.start(local)
        while not stop.wait(SIGNAL_POLL_S):
            pass
        log.info("stop requested")
    except Exception as exc:  # e.g. the HTTP port is taken: say so in one line, exit non-zero
        log.exception("agent failed to start")
        print(f"error: agent failed to start: {exc}", file=sys.stderr)
        return EXIT_START
    finally:
        agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
