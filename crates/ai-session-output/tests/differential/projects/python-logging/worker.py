"""A job runner that logs through `logging`; LOG_FORMAT picks the human format,
LOG_JSON=1 writes one JSON object per record instead (the truth)."""
import json
import logging
import os
import sys


class JsonFormatter(logging.Formatter):
    def format(self, record):
        exc = None
        if record.exc_info:
            exc = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps({"level": record.levelname, "message": record.getMessage(), "exc": exc})


handler = logging.StreamHandler(sys.stdout)
if os.environ.get("LOG_JSON"):
    handler.setFormatter(JsonFormatter())
else:
    handler.setFormatter(logging.Formatter(os.environ.get("LOG_FORMAT", logging.BASIC_FORMAT)))
logging.basicConfig(level=logging.DEBUG, handlers=[handler])
log = logging.getLogger("jobs.worker")


class QueryTimeout(TimeoutError):
    pass


def run_query(sql):
    raise QueryTimeout("canceling statement due to statement timeout")


def fetch_report(day):
    return run_query(f"select * from report where day = '{day}'")


log.info("worker started with %d slots", 4)
log.debug("polling queue jobs")
for job in range(1, 81):
    log.info("job %d picked up", job)
log.warning("queue depth %d above threshold", 120)
try:
    fetch_report("2026-01-01")
except TimeoutError:
    log.exception("job 2 failed")
try:
    int("x")
except ValueError:
    log.error("job 3 failed: bad input", exc_info=True)
log.info("worker stopped")
