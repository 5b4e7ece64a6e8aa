"""`pulse demo`, the composition root: the local stack, the schema, synthetic traffic, the engine, the API and page.

This is the one module that wires the parts together; each part stays unaware of the others (serve/ only
serves, engines/ only run the pipeline).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.live import Live

from pulse.settings import Settings, load_settings


def run_demo(settings: Settings, *, rate: float, refresh: float, console: Console) -> None:
    """The README's demo: local stack, schema, synthetic traffic, engine, a live KPI screen and the live page."""
    from pulse.collect.server import running
    from pulse.engines.native import NativeEngine
    from pulse.serve.api import create_app
    from pulse.serve.terminal import dashboard
    from pulse.stack.manager import stack_up
    from pulse.traffic.producer import produce_forever
    from pulse.warehouse.db import connect, connect_reader
    from pulse.warehouse.migrate import migrate

    with console.status("starting Kafka and PostgreSQL...") as status:
        stack = stack_up(settings, progress=lambda msg: status.update(msg)).as_dict()
        settings = settings.using_passfile(Path(str(stack["pgpass"])))
        status.update("migrating the warehouse...")
        with connect(settings.database_url) as conn:
            migrate(conn)
    # `stack up` has just written stack.env (role URLs, the local hash key): read it before starting.
    local = load_settings(home=settings.home)
    settings = settings.model_copy(
        update={
            "loader_database_url": settings.loader_database_url or stack.get("loader_database_url"),
            "reader_database_url": settings.reader_database_url or stack.get("reader_database_url"),
            "hash_key": settings.hash_key or local.hash_key,
        }
    )
    settings.require_hash_key()
    stop = threading.Event()
    engine = NativeEngine(settings)
    producer = threading.Thread(target=produce_forever, args=(settings, rate, int(time.time()), stop),
                                name="producer", daemon=True)
    runner = threading.Thread(target=engine.run, name="engine", daemon=True)
    producer.start()
    runner.start()
    logging.getLogger().setLevel(logging.WARNING)  # the live screen is the output now
    try:
        with running(create_app(settings), host=settings.api_host, port=_page_port(settings)) as page_url:
            console.print(f"live page: [bold]{page_url}/[/] · KPI API {page_url}/api/kpis · docs {page_url}/docs")
            reader = connect_reader(settings)
            with reader as conn, Live(console=console, refresh_per_second=4) as live:
                conn.autocommit = True
                while runner.is_alive():
                    live.update(dashboard(conn, settings, engine.stats.as_dict(), page_url))
                    time.sleep(refresh)
    except KeyboardInterrupt:
        console.print("stopping: finishing the batch in flight...")
    finally:
        stop.set()
        engine.request_stop()
        producer.join(timeout=10)
        runner.join(timeout=30)
    console.print(f"engine: {engine.stats.as_dict()}")
    console.print("the stack keeps running; `pulse stack down` stops it")


def _page_port(settings: Settings) -> int:
    """PULSE_API_PORT when it is free, else any free port (a second demo, or `pulse serve` already running)."""
    from pulse.collect.server import free_port

    with socket.socket() as probe:
        try:
            probe.bind((settings.api_host, settings.api_port))
        except OSError:
            return free_port(settings.api_host)
    return settings.api_port
