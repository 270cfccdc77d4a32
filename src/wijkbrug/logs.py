"""Log lines for every ``wijkbrug`` process: one JSON object per line, or plain text.

The rule is the codebase's: no personal data in logs or error messages. Messages are written
without values; what an exception says is left out too, because libraries put values in their
messages (a database error quotes the row's parameters, a validation error the input). An
exception is logged as its type and where it was raised (files, lines and functions of the
traceback): never its message, never a frame's locals.

``WIJKBRUG_LOG_FORMAT`` (``json``, the default, or ``text``) chooses the format;
:func:`configure` sets it up for the root logger, once per process (the CLI, the ledger
writer child), and routes uncaught exceptions (also in threads) through it.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import Literal, TextIO

import orjson

LogFormat = Literal["json", "text"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _where(tb: TracebackType | None) -> list[str]:
    """``file:line in function`` per frame, innermost last: code locations only."""
    return [
        f"{frame.filename}:{frame.lineno} in {frame.name}"
        for frame in traceback.extract_tb(tb, limit=None)
    ]


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a call whose arguments do not fit its format: keep the line, not them
        return str(record.msg)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``;
    for an exception also ``exc_type`` and ``exc_where`` (its traceback's code locations)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        line: dict[str, object] = {
            "time": stamp.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        if record.exc_info and record.exc_info[0] is not None:
            kind, _, tb = record.exc_info
            line["exc_type"] = kind.__name__
            line["exc_where"] = _where(tb)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """The classic one-line format; an exception as its type and traceback, without its
    message (see the module's docstring)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = f"{self.formatTime(record)} {record.levelname} {record.name}: {_message(record)}"
        if record.exc_info and record.exc_info[0] is not None:
            text += "\n" + self.formatException(record.exc_info)  # type: ignore[arg-type]
        return text

    def formatException(self, ei: _ExcInfo) -> str:
        kind, _, tb = ei
        frames = "".join(traceback.format_list(traceback.extract_tb(tb)))
        return f"Traceback (most recent call last):\n{frames}{kind.__name__}"


def formatter(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure` installs (so a second call can tell it from others)."""


def configure(fmt: LogFormat, level: int, stream: TextIO | None = None) -> bool:
    """The root logger writes ``fmt`` lines at ``level`` and up to ``stream`` (stderr).

    Like :func:`logging.basicConfig`, this leaves a root logger alone that has handlers of
    someone else's (a test runner calling the CLI in its own process); one installed by an
    earlier call is replaced. Returns whether it configured."""
    root = logging.getLogger()
    if any(not isinstance(h, _Handler) for h in root.handlers):
        return False
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    handler = _Handler(stream or sys.stderr)
    handler.setFormatter(formatter(fmt))
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # Python's warnings as log lines too (logger py.warnings)
    sys.excepthook = _uncaught
    threading.excepthook = _uncaught_in_thread
    return True


def _uncaught(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    """An exception nobody caught, as a log line like any other (Python's own printout would
    show its message)."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    logging.getLogger("wijkbrug").critical(
        "stopped by an unexpected %s", kind.__name__, exc_info=(kind, value, tb)
    )


def _uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("wijkbrug").critical(
        "thread %s stopped by an unexpected %s",
        name,
        args.exc_type.__name__,
        exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
    )
