"""Logging filters: refused requests are one line each, not a traceback."""

from __future__ import annotations

import logging


class RefusalWithoutTraceback(logging.Filter):
    """Drops the traceback Django attaches to its "Forbidden (Permission denied)" warning.

    A 403 is the permission check doing its job, not a fault in the code: the line with the
    path and the request id is what an administrator needs; 30 lines of stack per refused
    click bury the real errors.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
