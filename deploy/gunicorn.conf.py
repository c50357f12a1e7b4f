"""Gunicorn settings for the SMS gateway, in production and in the benchmark.

Start the gateway with::

    SMS_GATEWAY_CONFIG=/etc/sms-gateway/config.toml \\
        gunicorn -c deploy/gunicorn.conf.py sms_gateway.wsgi:app

Environment variables (all optional):

- ``SMS_GATEWAY_BIND``: address to listen on (default ``127.0.0.1:8000``).
- ``SMS_GATEWAY_WORKERS``: worker processes (default 2).
- ``SMS_GATEWAY_ACCESSLOG``: access log file, ``-`` for stderr (default: none).
- ``SMS_GATEWAY_LOGLEVEL``: gunicorn's own log level (default ``info``).
- ``SMS_GATEWAY_CONTROL_SOCKET``: path of gunicorn's control socket (default: none).
- ``PROMETHEUS_MULTIPROC_DIR``: where the workers keep their metric files
  (default: a fresh private temporary directory).

``bench/flash_crowd.py`` starts both the gateway and its ceiling app with this
file, so the benchmark measures exactly what production runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

# Loopback by default: nginx (or another TLS proxy) in front takes the public
# traffic; Kannel on the same host calls this address directly.
bind = os.environ.get("SMS_GATEWAY_BIND", "127.0.0.1:8000")

# Two processes per core is the usual start; the benchmark's --workers sets it.
# Each message is a short CPU + database burst, so more workers than cores
# mostly adds database connections and context switches.
workers = int(os.environ.get("SMS_GATEWAY_WORKERS", "2"))

# One request at a time per process: no threads sharing a session or a
# connection, and a crash loses at most the one message in flight (the
# provider retries it). Sync workers must sit behind a buffering proxy such as
# nginx, so a slow client cannot hold a worker.
worker_class = "sync"

# A worker silent this long is killed and replaced. Far above Twilio's 15 s
# webhook timeout and the 10 s database connect timeout, so it only fires for a
# worker that is truly stuck.
timeout = 30

# On a stop or restart, requests in flight get this long to finish: one
# message is one short transaction, so 10 s is plenty.
graceful_timeout = 10

# Off by default: under a flash crowd one line per SMS is a lot of disk. Set
# SMS_GATEWAY_ACCESSLOG=- to log to stderr.
accesslog = os.environ.get("SMS_GATEWAY_ACCESSLOG") or None
# A Kannel call's query string carries the shared key and the applicant's text
# (a NIK, a staff PIN) in clear: lines show the path (%(U)s), never the query
# string or the full request line (%(q)s, %(r)s).
access_log_format = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(L)s'

# Gunicorn's own messages (worker starts, timeouts, crashes) go to stderr:
# journald or the benchmark's log file picks them up there.
errorlog = "-"

# Gunicorn's verbosity; the gateway's own log level is in its config file.
loglevel = os.environ.get("SMS_GATEWAY_LOGLEVEL", "info")

# Each worker imports the app itself, after the fork: a database engine (and
# its connection pool) created before the fork would be shared by every
# worker, and their transactions would trample each other on the same socket.
# It also lets `kill -HUP` load new code.
preload_app = False

# The name `ps` and `top` show for the master and its workers.
proc_name = "sms-gateway"

# Gunicorn 25.1+ opens a control socket (for `gunicornc`) at one per-user
# default path, where a second instance on the same host (the benchmark's
# ceiling app, a staging copy) would collide. Off unless
# SMS_GATEWAY_CONTROL_SOCKET names a path for this instance. (Older gunicorns
# ignore both names.)
_control = os.environ.get("SMS_GATEWAY_CONTROL_SOCKET")
control_socket_disable = not _control
if _control:
    control_socket = _control

# prometheus_client's multiprocess mode: every worker writes its counters to
# files in this directory and GET /metrics adds them up. It must be set before
# any worker imports prometheus_client, so it is set here, in the master.
_METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_METRICS_PREFIX = "sms-gateway-metrics-"
if not os.environ.get(_METRICS_ENV):
    os.environ[_METRICS_ENV] = tempfile.mkdtemp(prefix=_METRICS_PREFIX)


def _metrics_dir() -> Path:
    return Path(os.environ[_METRICS_ENV])


def on_starting(server: Any) -> None:
    """Start the metrics from zero: files left by a previous run would be added in."""
    directory = _metrics_dir()
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges (it may have been killed, not stopped)."""
    try:
        from prometheus_client import multiprocess
    except ImportError:  # metrics are optional for the web process itself
        return
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    """Remove the metrics directory if this file created it (a temporary one)."""
    directory = _metrics_dir()
    if directory.parent == Path(tempfile.gettempdir()) and directory.name.startswith(
        _METRICS_PREFIX
    ):
        shutil.rmtree(directory, ignore_errors=True)
