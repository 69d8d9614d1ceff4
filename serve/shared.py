"""Results shared by every session of the process: identical requests (a teacher's link opened by a whole class)
are computed once, bounded in entries and bytes, each computation admitted through serve/admission.py."""
from __future__ import annotations

import sys
import threading
from collections import OrderedDict

from .admission import ADMISSION, ANONYMOUS, Admission, Place


def value_bytes(value, _seen=None) -> int:
    """Bytes a result holds: its NumPy arrays' and tensors' buffers, and its containers and scalars (roughly)."""
    seen = _seen if _seen is not None else set()
    if id(value) in seen:
        return 0
    seen.add(id(value))
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes + 112
    if hasattr(value, "element_size") and hasattr(value, "nelement"):        # a torch tensor
        return value.element_size() * value.nelement() + 112
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(value_bytes(k, seen) + value_bytes(v, seen) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return sys.getsizeof(value) + sum(value_bytes(v, seen) for v in value)
    fields = getattr(value, "__dict__", None)
    if fields is None and hasattr(value, "__slots__"):
        fields = {s: getattr(value, s, None) for s in value.__slots__}
    if fields is not None:
        return sys.getsizeof(value) + value_bytes(fields, seen)
    return sys.getsizeof(value)


class SharedResults:
    """Results shared by every session of this process, least recently used dropped first, bounded by
    `max_entries` and by `max_bytes` (the results' arrays, value_bytes(); a single result larger than the bound
    is returned but not kept). Identical requests (a teacher's link opened by a whole class) are computed once:
    while one session computes a key, the others asking for it wait for that result instead of computing it
    again. Hits never queue. If the computing session is interrupted (its user moved on), a waiting one takes
    over."""

    def __init__(self, max_entries: int = 128, admission: Admission | None = None,
                 max_bytes: int = 256 * 2**20):
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._admission = admission
        self._lock = threading.Lock()
        self._values: OrderedDict = OrderedDict()        # key -> (value, bytes)
        self._inflight: dict[object, threading.Event] = {}    # key being computed -> set when that ends
        self.computed = 0                      # how many times compute() ran (tests, benchmarks)
        self.bytes = 0                         # what the kept results hold

    def get(self, key, compute, on_wait=None, light: bool = False, person: str = ANONYMOUS, tab=None):
        """compute()'s value for key. light: a job of a few milliseconds (a default-size unroll) runs at once
        when its person has nothing else running (Admission.slot); it is still computed once."""
        while True:
            with self._lock:
                if key in self._values:
                    self._values.move_to_end(key)
                    return self._values[key][0]
                other = self._inflight.get(key)
                if other is None:                       # this session computes it
                    done = self._inflight[key] = threading.Event()
                    break
            while not other.wait(0.25):                 # someone else computes exactly this
                if on_wait is not None:
                    on_wait(Place(0, False, -1, -1, sharing=True))
        try:
            with (self._admission or ADMISSION).slot(person, tab, on_wait=on_wait, light=light):
                value = compute()
            self.computed += 1
            self._keep(key, value)
            return value
        finally:
            with self._lock:
                del self._inflight[key]
            done.set()

    def _keep(self, key, value) -> None:
        size = value_bytes(value)
        if size > self.max_bytes:
            return
        with self._lock:
            self._values[key] = (value, size)
            self.bytes += size
            while len(self._values) > self.max_entries or self.bytes > self.max_bytes:
                _, (_, dropped) = self._values.popitem(last=False)
                self.bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self.bytes = 0


SHARED = SharedResults()
