"""Structured JSON logs, one object per line, for CloudWatch Logs Insights.

Only the `function` and `contract` loggers are configured, so importing the app never touches
the root logger of whoever imports it (tests, uvicorn, the Lambda runtime). Review text is never
logged: the request log carries ids, sizes and timings only.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
LOGGERS = ("function", "contract")
# The request log (function/middleware.py): its logger, and the fields the confidence alarm's
# metric filters sum (infra/confidence_alarm.py), so a rename here renames both.
REQUEST_LOGGER = "function.request"
PREDICTIONS_FIELD = "batch_size"  # predictions the request answered
LOW_CONFIDENCE_FIELD = "low_confidence"  # how many of them scored below CONFIDENCE_FLOOR
# The Lambda version that answered (AWS_LAMBDA_FUNCTION_VERSION: a number under an alias,
# `$LATEST` otherwise; absent outside Lambda). A canary's own low-confidence alarm splits the
# two sums above by it (infra/confidence_alarm.py), as Lambda's ExecutedVersion splits Errors.
VERSION_FIELD = "function_version"
VERSION_ENV = "AWS_LAMBDA_FUNCTION_VERSION"  # set by Lambda in every environment, not a setting


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if not isinstance(h.formatter, JsonFormatter)]
        logger.addHandler(handler)
        logger.setLevel(level)
        # The Lambda runtime puts its own handler on the root logger: do not log twice.
        logger.propagate = False
