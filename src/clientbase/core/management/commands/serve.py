"""`clientbase serve`: the web app on waitress plus the Huey background worker as a child."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

# Seconds the worker gets to finish its current task after we ask it to stop.
WORKER_STOP_SECONDS = 30
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Command(BaseCommand):
    help = _(
        "Serve the web UI and API with waitress and run the background worker (Huey) beside "
        "it. Ctrl+C or SIGTERM stops both."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help=_("address to listen on"))
        parser.add_argument("--port", type=int, default=8000, help=_("port to listen on"))
        parser.add_argument("--threads", type=int, default=8, help=_("request threads"))
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help=_("do not start the background worker (run `clientbase run_huey` elsewhere)"),
        )
        parser.add_argument(
            "--no-collectstatic",
            action="store_true",
            help=_(
                "do not collect the static files before serving (they were collected by "
                "`clientbase collectstatic` into STATIC_ROOT already)"
            ),
        )
        parser.add_argument(
            "--trusted-proxy",
            default=os.environ.get("TRUSTED_PROXY", ""),
            help=_(
                "address of the HTTPS proxy in front of the app: its X-Forwarded-For and "
                "X-Forwarded-Proto headers are then believed (env TRUSTED_PROXY)"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings
        from django.core.management import call_command
        from waitress import create_server

        if not settings.STATIC_FROM_FINDERS and not options["no_collectstatic"]:
            # Pages name static files by their hashed names from the manifest this writes;
            # collecting on every start keeps it true after an upgrade (about 2 s when
            # nothing changed).
            call_command("collectstatic", interactive=False, verbosity=0)

        from clientbase.wsgi import application

        proxy: dict[str, Any] = {}
        if options["trusted_proxy"]:
            proxy = {
                "trusted_proxy": options["trusted_proxy"],
                "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
                "clear_untrusted_proxy_headers": True,
            }
        server = create_server(
            application,
            host=options["host"],
            port=options["port"],
            threads=options["threads"],
            ident="clientbase",
            **proxy,
        )
        stopping = threading.Event()

        def on_stop(signum: int, frame: FrameType | None) -> None:
            # waitress stops its loop on KeyboardInterrupt; SIGTERM and a closed terminal
            # (SIGHUP) mean the same. Installed for SIGINT too: a shell starting us in the
            # background would otherwise leave Ctrl+C ignored.
            stopping.set()
            raise KeyboardInterrupt

        # Handlers first, worker second: a signal in between must still stop the worker.
        previous = {sig: signal.signal(sig, on_stop) for sig in STOP_SIGNALS}
        worker: subprocess.Popen[bytes] | None = None
        try:
            if options["no_worker"]:
                self.stdout.write(_("Background worker not started (--no-worker)."))
            else:
                worker = self._start_worker(stopping)
            host = options["host"]
            shown_host = f"[{host}]" if ":" in host else host
            self.stdout.write(
                self.style.SUCCESS(
                    _("clientbase is serving at http://%(host)s:%(port)s/ — press Ctrl+C to stop.")
                    % {"host": shown_host, "port": options["port"]}
                )
            )
            server.run()
        except KeyboardInterrupt:
            pass
        finally:
            stopping.set()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            server.close()
            if worker is not None:
                self._stop_worker(worker)
        self.stdout.write(_("Stopped."))

    def _start_worker(self, stopping: threading.Event) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "clientbase.cli", "run_huey", "--workers", "2"]
        worker = subprocess.Popen(command)  # noqa: S603  (our own program, fixed arguments)
        self.stdout.write(_("Background worker started (process %(pid)d).") % {"pid": worker.pid})

        def watch() -> None:
            code = worker.wait()
            # Ctrl+C reaches the worker (same process group) as early as us: give our own
            # handler a moment before calling its exit unexpected.
            if not stopping.wait(timeout=2):
                self.stderr.write(
                    _(
                        "The background worker stopped unexpectedly (exit code %(code)s). The web "
                        "UI keeps working, but imports, backups and mailings wait until "
                        "`clientbase serve` is restarted."
                    )
                    % {"code": code}
                )

        threading.Thread(target=watch, name="worker-watch", daemon=True).start()
        return worker

    def _stop_worker(self, worker: subprocess.Popen[bytes]) -> None:
        if worker.poll() is None:
            # SIGINT is Huey's graceful stop: the running task finishes first.
            worker.send_signal(signal.SIGINT)
            try:
                worker.wait(timeout=WORKER_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.stderr.write(_("The background worker did not stop in time; killing it."))
                worker.kill()
                worker.wait()
        self.stdout.write(_("Background worker stopped."))
