"""``caselog serve``: the API on uvicorn (uvloop + httptools), in one process or in
``--workers N`` processes sharing one listening socket, with the projection runner beside
them as one child process of the service."""

from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import structlog
import uvicorn

from application.settings import Settings, load_settings
from storage.config import ConfigError, StoreConfig, store_config

log = structlog.get_logger("caselog.serve")


def warn_without_autovacuum(store: StoreConfig) -> bool:
    """PostgreSQL: log a warning when the server runs without autovacuum, which keeps the
    planner's statistics of growing tables (the event log, the read models) and their
    visibility maps (the KPI queries' index-only scans) current; True when it warned. Without
    it, they stay as the last ANALYZE and VACUUM left them (docs/operations.md)."""
    if store.kind != "postgres":
        return False
    import psycopg

    try:
        with psycopg.connect(store.libpq_url, connect_timeout=5) as conn:
            row = conn.execute("SHOW autovacuum").fetchone()
    except psycopg.Error:
        return False  # the store's own checks report a server that cannot be reached
    if row is None or row[0] != "off":
        return False
    log.warning(
        "autovacuum_off",
        hint="statistics and visibility maps go stale as tables grow: turn autovacuum on, "
        "or run VACUUM (ANALYZE) regularly (docs/operations.md)",
    )
    return True


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    database_url: str | None = None,
    projections: str = "inline",
    settings: Settings | None = None,
    workers: int = 1,
) -> int:
    """One process (``workers=1``) or a supervisor of ``workers`` serving processes
    (``serve_workers``). ``projections="inline"`` (the default: one command does
    everything) starts the projection runner beside this process, as a child that ends with it
    (``application.follower.RunnerProcess``: its work grows with the length of the cases it
    recomputes and must not hold this process's interpreter lock); ``"off"`` leaves it to
    ``caselog projections follow`` (the production layout: the runner gets its own core)."""
    from api.app import configure_logging, create_app

    settings = settings or load_settings(database_url=database_url)
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    if database_url:
        os.environ["CASELOG_DATABASE_URL"] = database_url
    warn_without_autovacuum(store_config(database_url or settings.database_url))
    if workers > 1:
        return serve_workers(host, port, settings, projections, workers)
    _check_port_free(host, port)
    from application.follower import RunnerProcess

    store = store_config(database_url or settings.database_url)
    app = create_app(store, run_projections=False, settings=settings)
    runner = (
        RunnerProcess(database_url or settings.database_url) if projections == "inline" else None
    )
    # Long-lived objects (catalogues, caches, the app) leave the GC's young generations, and
    # collections run less often: full collections over cached aggregates were the p99.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,  # our own structured access log (api.conventions)
        log_level="warning",
        limit_concurrency=1000,
        timeout_keep_alive=10,
    )
    banner = (
        f"caselog listening on http://{host}:{port} "
        f"({store.redacted_url}, projections {projections}); Ctrl+C stops"
    )
    if runner is not None:
        runner.start()
    try:
        _Server(config, banner).run()
    finally:
        if runner is not None:
            runner.stop()
    return 0


class _Server(uvicorn.Server):
    """uvicorn's server, saying where it listens once it does."""

    def __init__(
        self, config: Any, banner: str | None, on_started: Callable[[], None] | None = None
    ) -> None:
        super().__init__(config)
        self.banner = banner
        self.on_started = on_started

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started:
            if self.banner:
                print(self.banner, file=sys.stderr, flush=True)
            if self.on_started is not None:
                self.on_started()


def _check_port_free(host: str, port: int) -> None:
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as e:
        raise ConfigError(
            f"cannot listen on {host}:{port} ({e.strerror}); choose another --port or --host"
        ) from None


# --- several serving processes -----------------------------------------------------------

#: a replacement worker is started at most this often (a worker that cannot start is not
#: restarted in a tight loop)
RESPAWN_SECONDS = 1.0
#: how long the workers get to finish their requests after SIGTERM
STOP_SECONDS = 15.0
#: how long a worker may take to start listening
START_SECONDS = 60.0


def serve_workers(host: str, port: int, settings: Settings, projections: str, workers: int) -> int:
    """``caselog serve --workers N``: this process binds the socket, starts the projection
    runner (one for the service) and N serving processes that accept on the shared socket,
    each with its own app, connection pool and group committer, and supervises them: a
    worker that dies is replaced (its unfinished Idempotency-Key claims released first);
    SIGTERM / Ctrl-C stops the workers, then the runner. The workers and the runner end
    with this process, also after a kill -9 of it (the kernel signals the workers, the
    runner watches this process's pid)."""
    from api.idempotency import new_service
    from application.follower import RunnerProcess

    store = store_config(settings.database_url)
    if store.kind != "postgres":
        raise ConfigError(
            "--workers above 1 needs PostgreSQL (CASELOG_DATABASE_URL=postgresql://...): "
            "several processes writing one SQLite file wait for each other's locks"
        )
    sock = _listen(host, port)
    service = new_service()
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    runner = RunnerProcess(settings.database_url) if projections == "inline" else None
    pool: list[_Worker] = []
    try:
        if runner is not None:
            runner.start()
        # after the runner's start: the workers inherit what it put in the environment
        env = {
            **os.environ,
            "CASELOG_DATABASE_URL": settings.database_url,
            "CASELOG_LOG_LEVEL": settings.log_level,
            "CASELOG_LOG_FORMAT": settings.log_format,
            "CASELOG_SERVICE_INCARNATION": service,
        }
        pool = [_Worker(sock, env) for _ in range(workers)]
        deadline = time.monotonic() + START_SECONDS
        while not stopping and not all(w.ready() for w in pool):
            if any(w.proc.poll() is not None for w in pool) or time.monotonic() > deadline:
                print("caselog: a worker did not start; see its log above", file=sys.stderr)
                return 1
            time.sleep(0.05)
        if not stopping:
            print(
                f"caselog listening on http://{host}:{port} ({store.redacted_url}, "
                f"{workers} workers, projections {projections}); Ctrl+C stops",
                file=sys.stderr,
                flush=True,
            )
        while not stopping:
            time.sleep(0.2)
            for i, w in enumerate(pool):
                if w.proc.poll() is not None and not stopping:
                    pool[i] = _replace(w, sock, env, service, store)
        return 0
    finally:
        for w in pool:
            w.terminate()
        for w in pool:
            w.wait(STOP_SECONDS)
        if runner is not None:
            runner.stop()
        sock.close()
        for s, handler in previous.items():
            signal.signal(s, handler)


class _Worker:
    """One serving process: ``python -m api.server --worker``, on the inherited socket."""

    def __init__(self, sock: socket.socket, env: dict[str, str]) -> None:
        self.started = time.monotonic()
        ready_r, ready_w = os.pipe()
        self._ready_fd: int | None = ready_r
        self._ready = False
        os.set_blocking(ready_r, False)
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "api.server", "--worker", "--fd", str(sock.fileno()),
                 "--ready-fd", str(ready_w), "--parent", str(os.getpid())],
                env=env, pass_fds=(sock.fileno(), ready_w),
                # its own process group: a terminal's Ctrl-C reaches the service process
                # alone, which then stops each worker once, gracefully
                process_group=0,
            )  # fmt: skip
        finally:
            os.close(ready_w)

    def ready(self) -> bool:
        if not self._ready and self._ready_fd is not None:
            try:
                self._ready = bool(os.read(self._ready_fd, 1))
            except BlockingIOError:
                return False
            os.close(self._ready_fd)
            self._ready_fd = None
        return self._ready

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()

    def wait(self, seconds: float) -> None:
        try:
            self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self._ready_fd is not None:
            os.close(self._ready_fd)
            self._ready_fd = None


def _replace(
    dead: _Worker, sock: socket.socket, env: dict[str, str], service: str, store: Any
) -> _Worker:
    """A worker died while the service runs: free what it had claimed, start another."""
    from api.idempotency import IdempotencyStore, worker_incarnation
    from storage.views import ViewStore

    dead.wait(0)
    log.warning("worker_exited", pid=dead.proc.pid, code=dead.proc.returncode)
    time.sleep(max(0.0, dead.started + RESPAWN_SECONDS - time.monotonic()))
    try:
        views = ViewStore(store)
        try:
            released = IdempotencyStore(views, service).release_claims_of(
                worker_incarnation(service, dead.proc.pid)
            )
        finally:
            views.close()
        if released:
            log.info("idempotency_claims_released", count=released, worker=dead.proc.pid)
    except Exception as e:  # the store is down: the claims turn stale in seconds anyway
        log.warning("idempotency_claims_not_released", error=str(e))
    return _Worker(sock, env)


def _listen(host: str, port: int) -> socket.socket:
    try:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as e:
        raise ConfigError(
            f"cannot listen on {host}:{port} ({e.strerror}); choose another --port or --host"
        ) from None
    sock.set_inheritable(True)
    return sock


def _die_with_parent(parent: int) -> None:
    """Linux: SIGTERM this worker when the supervisor dies (also by kill -9)."""
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it died before we asked
        sys.exit(0)


def worker_main(argv: list[str] | None = None) -> int:
    """``python -m api.server --worker --fd N --ready-fd N --parent PID``: one serving
    process of ``serve_workers`` (settings from the environment it hands down)."""
    import argparse

    from api.app import configure_logging, create_app

    p = argparse.ArgumentParser(prog="python -m api.server")
    p.add_argument("--worker", action="store_true", required=True)
    p.add_argument("--fd", type=int, required=True)
    p.add_argument("--ready-fd", type=int, required=True)
    p.add_argument("--parent", type=int, required=True)
    args = p.parse_args(argv)
    _die_with_parent(args.parent)
    settings = load_settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    sock = socket.socket(fileno=args.fd)
    from application.application import CaseLog

    caselog = CaseLog(store=store_config(settings.database_url), take_turns=True)
    app = create_app(app=caselog, run_projections=False, settings=settings)
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        limit_concurrency=1000,
        timeout_keep_alive=10,
    )
    ready = args.ready_fd

    def say_ready() -> None:
        os.write(ready, b"1")
        os.close(ready)

    try:
        _Server(config, None, on_started=say_ready).run(sockets=[sock])
    finally:
        caselog.close()
    return 0


if __name__ == "__main__":
    sys.exit(worker_main())
