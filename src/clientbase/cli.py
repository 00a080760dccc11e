"""The `clientbase` console command: Django's manage.py for this project."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clientbase.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["clientbase", *(sys.argv[1:] if argv is None else argv)])
    except ImproperlyConfigured as exc:
        # A missing SECRET_KEY in production is an operator's mistake, not a crash: one line
        # saying what to set reads better than a traceback through Django's internals.
        print(f"clientbase: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
