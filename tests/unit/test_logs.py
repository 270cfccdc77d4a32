"""Log lines: one JSON object per line (or text), exceptions as type and place, never a value."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from wijkbrug.logs import JsonFormatter, TextFormatter

#: Values a library might put in an exception message (synthetic).
BSN, NAME = "111222333", "Jansen-Özdemir"


def _logger(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    """A logger of the test's own (pytest's root handlers stay as they are)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"wijkbrug.test.{id(out)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, out


def _fail_in_the_ledger() -> None:
    raise ValueError(f"duplicate key for bsn={BSN} naam={NAME}")


def test_json_lines_have_time_level_logger_message_and_only_the_type_of_an_exception() -> None:
    logger, out = _logger(JsonFormatter())
    before = datetime.now(UTC)
    logger.info("read %d records from %s", 3, "raw.signal")
    logger.warning("two lines\nin one message")
    try:
        _fail_in_the_ledger()
    except ValueError:
        logger.exception("batch %d not written", 7)
    after = datetime.now(UTC)

    lines = out.getvalue().splitlines()
    assert len(lines) == 3, "one line per record, also for a multi-line message and a traceback"
    docs = [json.loads(line) for line in lines]
    assert [d["level"] for d in docs] == ["INFO", "WARNING", "ERROR"]
    assert {d["logger"] for d in docs} == {logger.name}
    assert [d["message"] for d in docs] == [
        "read 3 records from raw.signal",
        "two lines\nin one message",
        "batch 7 not written",
    ]
    for doc in docs:
        assert doc["time"].endswith("Z")
        moment = datetime.fromisoformat(doc["time"].replace("Z", "+00:00"))
        assert moment.utcoffset() == timedelta(0)
        assert before - timedelta(milliseconds=1) <= moment <= after
    assert set(docs[0]) == {"time", "level", "logger", "message"}
    failed = docs[2]
    assert failed["exc_type"] == "ValueError"
    assert failed["exc_where"][-1].endswith("in _fail_in_the_ledger")
    assert __file__ in failed["exc_where"][-1]
    assert BSN not in out.getvalue() and NAME not in out.getvalue()


def test_text_lines_show_where_an_exception_was_raised_but_not_what_it_said() -> None:
    logger, out = _logger(TextFormatter())
    try:
        _fail_in_the_ledger()
    except ValueError:
        logger.exception("batch not written")
    text = out.getvalue()
    assert " ERROR wijkbrug.test." in text.splitlines()[0]
    assert text.splitlines()[0].endswith(": batch not written")
    assert "Traceback (most recent call last):" in text
    assert "in _fail_in_the_ledger" in text
    assert text.rstrip().endswith("ValueError")
    assert BSN not in text and NAME not in text


def test_a_record_whose_arguments_do_not_fit_keeps_its_line_without_them() -> None:
    logger, out = _logger(JsonFormatter())
    logger.warning("expected a number: %d", "not a number")
    assert json.loads(out.getvalue())["message"] == "expected a number: %d"


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_configure_replaces_its_own_handler_and_logs_uncaught_exceptions_without_values(
    fmt: str,
) -> None:
    # A process of its own: configure() changes the root logger and the excepthooks.
    script = f"""
import logging, sys, threading
from wijkbrug import logs
assert logs.configure("text", logging.INFO, sys.stdout)
assert logs.configure({fmt!r}, logging.WARNING, sys.stdout), "its own handler is replaced"
logging.getLogger("wijkbrug.x").info("below the level")
logging.getLogger("wijkbrug.x").warning("shown %s", "once")
thread = threading.Thread(target=lambda: 1 / 0, name="helper")
thread.start(); thread.join()
raise RuntimeError("no ledger for bsn {BSN}")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert BSN not in done.stdout + done.stderr
    assert done.stderr == "", "everything went through the configured handler"
    if fmt == "json":
        docs = [json.loads(line) for line in done.stdout.splitlines()]
        assert [(d["level"], d["message"]) for d in docs] == [
            ("WARNING", "shown once"),
            ("CRITICAL", "thread helper stopped by an unexpected ZeroDivisionError"),
            ("CRITICAL", "stopped by an unexpected RuntimeError"),
        ]
        assert [d.get("exc_type") for d in docs] == [None, "ZeroDivisionError", "RuntimeError"]
    else:
        assert "below the level" not in done.stdout
        assert " WARNING wijkbrug.x: shown once" in done.stdout
        assert "CRITICAL wijkbrug: stopped by an unexpected RuntimeError" in done.stdout
        assert done.stdout.rstrip().endswith("RuntimeError")


def test_configure_leaves_a_root_logger_with_someone_elses_handlers_alone() -> None:
    script = """
import logging, sys
from wijkbrug import logs
foreign = logging.StreamHandler(sys.stdout)
logging.getLogger().addHandler(foreign)
assert not logs.configure("json", logging.INFO, sys.stdout)
assert logging.getLogger().handlers == [foreign]
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
