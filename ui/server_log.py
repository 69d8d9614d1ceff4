"""Bounded logging of what clients send wrong: a malformed or oversized WebSocket frame is one line in the
server's log, not a traceback, and at most a few such lines a minute however fast a client sends them.

Streamlit logs a frame that is not a BackMsg with its full traceback (~3.4 KB) and closes that connection; a
client that reconnects and sends another one in a loop wrote ~700 KB/s of log. `install()` (called by app.py,
so from the first session on) puts a filter on Streamlit's WebSocket logger: each such record loses its
traceback (the exception's type and message stay, on the same line), and past `burst` of them in `window_s`
seconds they are counted instead of written; the next line written says how many were left out.
"""
from __future__ import annotations

import logging
import threading
import time

WEBSOCKET_LOGGER = "streamlit.web.server.starlette.starlette_websocket"
CLIENT_FAULTS = ("Error deserializing back message", "Client WebSocket message size")


class ClientFaultFilter(logging.Filter):
    """One line per malformed frame (each closes its connection), at most `burst` lines per `window_s`."""

    def __init__(self, burst: int = 5, window_s: float = 60.0, clock=time.monotonic):
        super().__init__()
        self.burst, self.window_s, self.clock = burst, window_s, clock
        self._lock = threading.Lock()
        self._window_start, self._written, self.suppressed = clock(), 0, 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(CLIENT_FAULTS):
            return True
        with self._lock:
            now = self.clock()
            if now - self._window_start >= self.window_s:
                self._window_start, self._written = now, 0
            if self._written >= self.burst:
                self.suppressed += 1
                return False
            self._written += 1
            left_out, self.suppressed = self.suppressed, 0
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {type(exc).__name__}: {str(exc)[:200]}; connection closed"
            record.args, record.exc_info, record.exc_text = None, None, None
        if left_out:
            record.msg = f"{record.getMessage()} ({left_out} more such frames not logged)"
            record.args = None
        return True


_installed: ClientFaultFilter | None = None


def install() -> ClientFaultFilter:
    """Put the filter on Streamlit's WebSocket logger once per process."""
    global _installed
    if _installed is None:
        _installed = ClientFaultFilter()
        logging.getLogger(WEBSOCKET_LOGGER).addFilter(_installed)
    return _installed
