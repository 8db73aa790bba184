"""``ps2moodle serve``: change sync over HTTPS, until SIGINT or SIGTERM."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.text import Text

from reconciler.cli.app import app, err, options
from reconciler.cli.common import EXIT_ERROR, EXIT_OK, load_or_exit, reported_errors, setup_logging
from reconciler.serve.https import tls_context
from reconciler.serve.service import SyncService


@app.command(short_help="Run change sync over HTTPS.")
def serve(
    config_path: Annotated[Path, typer.Argument(help="The config file (its serve section).", metavar="CONFIG")],
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", metavar="FILE", help="PEM certificate chain the server presents.")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", metavar="FILE", help="PEM private key of that certificate.")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8443,
    no_subscribe: Annotated[
        bool,
        typer.Option(
            "--no-subscribe", help="Leave PowerSchool's event subscription as it is (no GET or PUT at start)."
        ),
    ] = False,
) -> None:
    """Run change sync over HTTPS: a full sync at start and every serve.interval_s, and one
    serve.debounce_s after PowerSchool notifies a change (POST /powerschool/events); GET
    /healthz reports. At start it subscribes PowerSchool to the changes the config reads
    (with serve.callback_url and serve.webhook_key; --no-subscribe leaves it alone). Each
    run's plan is saved under serve.out_dir; it is applied only with serve.auto_apply and
    only when the safety checks pass it. Stops on Ctrl-C or SIGTERM, after the sync in
    progress."""
    if tls_cert is None or tls_key is None:
        err.print(
            Text(
                "serve is HTTPS only: give --tls-cert FILE and --tls-key FILE (PEM). PowerSchool's notifications "
                "carry the webhook key and the health page reports on the district: neither travels unencrypted.",
                style="red",
            )
        )
        raise typer.Exit(EXIT_ERROR)
    setup_logging(verbose=not options.quiet)  # serve logs what it does unless -q
    config = load_or_exit(config_path)
    with reported_errors("serve"):
        service = SyncService(config, tls_context(tls_cert, tls_key), host=host, port=port, subscribe=not no_subscribe)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()
        # A second Ctrl-C or SIGTERM is not graceful: it ends the process as usual.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    service.start()
    err.print(Text(f"ps2moodle serve on {service.url}: {service.routes}; Ctrl-C stops"))
    while not stop.wait(1.0):
        pass
    service.stop()
    raise typer.Exit(EXIT_OK)
