"""The admission point for heavy jobs and the shared results (core/admission.py)."""
import threading
import time

import pytest

from core.admission import Admission, SharedResults, slots_from_env


class Gauge:
    """How many jobs ran at once, at most."""

    def __init__(self):
        self.lock, self.now, self.peak, self.order = threading.Lock(), 0, 0, []

    def job(self, name, seconds=0.15):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.order.append(name)
        time.sleep(seconds)
        with self.lock:
            self.now -= 1


def test_slots_default_to_the_cores_and_follow_the_environment():
    assert slots_from_env({"GFL_HEAVY_SLOTS": "3"}) == 3
    assert slots_from_env({"GFL_HEAVY_SLOTS": "zero"}) >= 1          # junk: the cores this process may use
    assert slots_from_env({}) >= 1


def test_no_more_jobs_than_slots_run_at_once_and_the_rest_go_first_come_first_served():
    adm, gauge, seen = Admission(slots=2), Gauge(), {}

    def user(i):
        def on_wait(ahead, running):
            seen.setdefault(i, []).append(ahead)
        with adm.slot(on_wait=on_wait, poll_s=0.02):
            gauge.job(i, 0.3)                             # long enough that all six are in line at once
    threads = []
    for i in range(6):
        threads.append(threading.Thread(target=user, args=(i,)))
        threads[-1].start()
        time.sleep(0.02)                                  # arrive in order 0, 1, 2, …
    for t in threads:
        t.join(10)
    assert gauge.peak == 2
    assert gauge.order == list(range(6))
    assert 5 in seen and max(seen[5]) >= 2                 # the last one was told others were ahead of it
    assert all(a == sorted(a, reverse=True) for a in seen.values())   # its place only moves forward
    assert adm.running == 0 and adm.waiting == 0


def test_a_waiter_interrupted_while_waiting_leaves_the_line():
    """A Streamlit rerun or stop raises inside on_wait: the job must not keep a place nor take a slot."""
    adm = Admission(slots=1)
    hold = threading.Event()

    def holder():
        with adm.slot():
            hold.wait(5)
    t = threading.Thread(target=holder)
    t.start()
    time.sleep(0.05)

    class Rerun(Exception):
        pass

    def interrupt(ahead, running):
        raise Rerun
    with pytest.raises(Rerun):
        with adm.slot(on_wait=interrupt, poll_s=0.01):
            pytest.fail("admitted while the only slot was taken")
    assert adm.waiting == 0
    hold.set()
    t.join(5)
    with adm.slot():
        assert adm.running == 1
    assert adm.running == 0


def test_chunked_runs_take_turns_and_a_closed_page_loses_its_place():
    adm = Admission(slots=1, stale_s=0.3)
    a, b, c = adm.ticket(), adm.ticket(), adm.ticket()
    assert a.try_start()
    assert not b.try_start() and not c.try_start()
    assert (b.ahead(), c.ahead()) == (0, 1)
    a.done()
    assert not c.try_start() and b.try_start()            # b was first in line
    assert not a.try_start()                              # a queues again, behind c
    b.done()
    assert not a.try_start() and c.try_start()
    c.done()
    assert a.try_start()
    a.done()
    # b asks once and then its page is closed: after stale_s it no longer blocks c
    b.try_start(), c.try_start()
    assert c.holding or b.holding
    (c if c.holding else b).done()
    time.sleep(0.4)
    assert c.try_start()
    c.leave()
    assert adm.running == 0


def test_identical_requests_are_computed_once_and_hits_never_wait():
    adm = Admission(slots=1)
    shared = SharedResults(admission=adm)
    calls, results = [], []

    def compute():
        calls.append(1)
        time.sleep(0.3)
        return {"value": 42}
    threads = [threading.Thread(target=lambda: results.append(shared.get("same link", compute))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and len(results) == 8 and all(r is results[0] for r in results)

    hold = threading.Event()                              # every slot busy with other work…
    t = threading.Thread(target=lambda: shared.get("other", lambda: hold.wait(5)))
    t.start()
    time.sleep(0.05)
    start = time.perf_counter()
    assert shared.get("same link", compute) == {"value": 42}     # …a hit still answers at once
    assert time.perf_counter() - start < 0.05
    hold.set()
    t.join(5)


def test_when_the_computing_session_goes_away_a_waiting_one_takes_over():
    shared = SharedResults(admission=Admission(slots=2))
    started = threading.Event()

    def interrupted():
        started.set()
        time.sleep(0.1)
        raise KeyboardInterrupt("the user moved on")        # what a Streamlit stop looks like from here
    first = threading.Thread(target=lambda: pytest.raises(KeyboardInterrupt, shared.get, "k", interrupted))
    first.start()
    started.wait(5)
    assert shared.get("k", lambda: "computed again") == "computed again"
    first.join(5)


def test_a_light_job_runs_at_once_even_when_every_slot_is_busy():
    adm = Admission(slots=1)
    shared = SharedResults(admission=adm)
    hold = threading.Event()
    t = threading.Thread(target=lambda: shared.get("training chunk", lambda: hold.wait(5)))
    t.start()
    time.sleep(0.05)
    start = time.perf_counter()
    assert shared.get("default unroll", lambda: "curve", light=True) == "curve"
    assert time.perf_counter() - start < 0.05 and shared.computed == 1
    hold.set()
    t.join(5)


def test_the_thread_policy_is_set_in_one_place():
    """One torch thread per job (the server runs jobs side by side) and a short interpreter switch interval, so
    a training thread is not starved by a page drawing its charts (core/runtime.py)."""
    import sys

    import torch

    from core.runtime import SWITCH_INTERVAL_S, configure_threads, threads_from_env
    assert configure_threads() == 1 == torch.get_num_threads()
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S) and SWITCH_INTERVAL_S <= 1e-3
    assert threads_from_env({"GFL_TORCH_THREADS": "2"}) == 2 and threads_from_env({"GFL_TORCH_THREADS": "x"}) == 1
