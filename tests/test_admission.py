"""The admission point for heavy jobs and the shared results (serve/admission.py, serve/shared.py)."""
import threading
import time

import pytest

from serve.admission import Admission, Superseded, TooManyWaiting, slots_from_env
from serve.shared import SharedResults
from ui.heavy import wait_message


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


def wait_until(condition, timeout=10.0):
    """Poll a condition set by another thread (no sleeping for a guessed time)."""
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.002)


class Line:
    """Jobs queued one at a time in a known order; each records when it ran and holds its slot until released."""

    def __init__(self, adm):
        self.adm, self.order, self.errors, self.threads = adm, [], {}, []
        self.release = {}
        self.places = {}

    def add(self, name, person, tab=None, hold=False):
        self.release[name] = threading.Event()
        if not hold:
            self.release[name].set()

        def run():
            try:
                with self.adm.slot(person, tab, poll_s=0.01,
                                   on_wait=lambda place: self.places.setdefault(name, place)):
                    self.order.append(name)
                    self.release[name].wait(10)
            except Exception as exc:                      # Superseded, TooManyWaiting
                self.errors[name] = exc
        self.threads.append(threading.Thread(target=run))
        self.threads[-1].start()
        wait_until(lambda: name in self.places or name in self.errors or name in self.order)   # in line

    def join(self):
        for t in self.threads:
            t.join(10)


def test_no_more_jobs_than_slots_run_at_once():
    adm, gauge, seen = Admission(slots=2), Gauge(), {}

    def user(i):
        def on_wait(place):
            seen.setdefault(i, []).append(place.people_ahead)
        with adm.slot(f"person {i}", on_wait=on_wait, poll_s=0.02):
            gauge.job(i, 0.3)                             # long enough that all six are in line at once
    threads = []
    for i in range(6):
        threads.append(threading.Thread(target=user, args=(i,)))
        threads[-1].start()
        wait_until(lambda: adm.waiting + adm.running == i + 1)      # arrive in order 0, 1, 2, …
    for t in threads:
        t.join(10)
    assert gauge.peak == 2
    assert sorted(gauge.order) == list(range(6)) and gauge.order[:2] == [0, 1]
    assert 5 in seen and max(seen[5]) >= 2                 # the last one was told others were ahead of it
    assert all(a == sorted(a, reverse=True) for a in seen.values())   # its place only moves forward
    assert adm.running == 0 and adm.waiting == 0


def test_persons_in_line_are_served_in_arrival_order():
    adm = Admission(slots=1, quantum_s=10)
    line = Line(adm)
    line.add("hold", "teacher", hold=True)
    for i in range(5):
        line.add(i, f"person {i}")
    line.release["hold"].set()
    line.join()
    assert line.order == ["hold", 0, 1, 2, 3, 4]


def test_slots_go_round_robin_between_persons_not_first_come_first_served():
    """Two tabs of one person queue three jobs before another person queues three: they alternate. (A long
    quantum: every job here costs the same turn, however the machine schedules the threads.)"""
    adm = Admission(slots=1, quantum_s=10)
    line = Line(adm)
    line.add("hold", "teacher", hold=True)
    for n in (1, 2, 3):
        line.add(f"a{n}", "student a", tab=f"a tab {n}")
    for n in (1, 2, 3):
        line.add(f"b{n}", "student b", tab=f"b tab {n}")
    line.release["hold"].set()
    line.join()
    assert line.order == ["hold", "a1", "b1", "a2", "b2", "a3", "b3"]
    assert not line.errors


def test_a_person_runs_one_job_at_a_time_and_is_told_it_waits_for_its_own_job():
    adm = Admission(slots=3)
    line = Line(adm)
    line.add("a1", "student a", tab=1, hold=True)
    line.add("a2", "student a", tab=2, hold=True)       # a free slot, but a's first job runs
    line.add("b1", "student b", hold=True)
    wait_until(lambda: "b1" in line.order and "a2" in line.places)
    assert line.order == ["a1", "b1"] and adm.running == 2
    assert line.places["a2"].own_first
    assert "waiting for your earlier job" in wait_message(line.places["a2"]).lower()
    line.release["a1"].set()
    wait_until(lambda: "a2" in line.order)
    for name in ("a2", "b1"):
        line.release[name].set()
    line.join()
    assert adm.running == 0 and adm.waiting == 0


def test_the_page_says_how_many_people_are_ahead():
    adm = Admission(slots=1)
    line = Line(adm)
    line.add("hold", "teacher", hold=True)
    line.add("b", "student b", hold=True)
    line.add("c", "student c", hold=True)
    line.add("c2", "student c", tab="second tab", hold=True)      # one more job of c: still one person ahead
    line.add("d", "student d", hold=True)
    wait_until(lambda: "d" in line.places)
    place = line.places["d"]
    assert (place.people_ahead, place.own_first, place.running, place.slots) == (2, False, 1, 1)
    assert wait_message(place).startswith("Waiting for a free worker: 2 people ahead of you (1 of 1 workers busy")
    assert line.places["c2"].own_first
    for event in line.release.values():
        event.set()
    line.join()


def test_a_new_job_of_the_same_tab_replaces_its_waiting_one_and_keeps_its_place():
    adm = Admission(slots=1, quantum_s=10)
    line = Line(adm)
    line.add("hold", "teacher", hold=True)
    line.add("old", "student a", tab="tab 1")
    line.add("c", "student c")
    line.add("new", "student a", tab="tab 1")             # e.g. the same link re-seeded
    wait_until(lambda: "old" in line.errors)
    assert isinstance(line.errors["old"], Superseded)
    assert adm.waiting == 2                                # new and c, not three jobs
    line.release["hold"].set()
    line.join()
    assert line.order == ["hold", "new", "c"]              # the new job went where the old one stood


def test_a_person_has_a_bounded_number_of_jobs_waiting():
    adm = Admission(slots=1, max_waiting=2, quantum_s=10)
    line = Line(adm)
    line.add("hold", "teacher", hold=True)
    line.add("a1", "student a", tab=1)
    line.add("a2", "student a", tab=2)
    line.add("a3", "student a", tab=3)
    assert isinstance(line.errors.get("a3"), TooManyWaiting) and "2 jobs waiting" in str(line.errors["a3"])
    assert adm.waiting == 2
    line.release["hold"].set()
    line.join()
    assert line.order == ["hold", "a1", "a2"]


def test_a_long_job_costs_its_owner_turns_in_proportion_to_its_length():
    """Fair queueing on virtual time: after holding a slot for ~10 quanta, a person waits while others with
    short jobs take their turns (the quantum is made small so the test needs no long jobs)."""
    adm = Admission(slots=1, quantum_s=0.01)
    line = Line(adm)
    line.add("long", "attacker", hold=True)
    line.add("x1", "student x", tab=1)
    line.add("next", "attacker", tab=2)
    line.add("x2", "student x", tab=3)
    line.add("x3", "student x", tab=4)
    time.sleep(0.2)                                        # the long job holds the slot for 20 quanta
    line.release["long"].set()
    line.join()
    assert line.order == ["long", "x1", "x2", "x3", "next"]


def test_training_chunks_have_a_lane_of_their_own_beside_one_shot_jobs():
    """With the only slot held by a long one-shot job, one training chunk still runs (chunks take turns in
    that lane)."""
    adm = Admission(slots=1)
    line = Line(adm)
    line.add("unroll", "student u", hold=True)
    a, b = adm.ticket("student a"), adm.ticket("student b")
    assert a.try_start()                                   # not behind the 30 s unroll
    assert not b.try_start()                               # the chunk lane holds one chunk
    assert b.place().people_ahead == 0 and not b.place().own_first
    a.done()
    assert not a.try_start() and b.try_start()             # they alternate
    b.done()
    assert a.try_start()
    a.leave(), b.leave()
    line.release["unroll"].set()
    line.join()
    assert adm.running == 0 and adm.waiting == 0


def test_one_shot_jobs_and_training_chunks_share_one_extra_place():
    """slots = 2: a one-shot job beside two training chunks (three at once, one more than the slots), and a
    second one-shot job then waits for one of the three, whichever ends first."""
    adm = Admission(slots=2)
    a, b = adm.ticket("student a"), adm.ticket("student b")
    assert a.try_start() and b.try_start()                 # the chunk lane: two places
    line = Line(adm)
    line.add("unroll", "student u", hold=True)            # beside them, at once
    line.add("phase", "student p", hold=True)
    assert line.order == ["unroll"] and adm.running == 3
    a.done()
    wait_until(lambda: line.order == ["unroll", "phase"])
    assert not a.try_start()                               # now 3 again: a waits for a place
    b.done()
    assert a.try_start()
    a.leave(), b.leave()
    for event in line.release.values():
        event.set()
    line.join()


def test_a_light_job_skips_the_line_only_when_its_person_has_nothing_else_running():
    adm = Admission(slots=1)
    line = Line(adm)
    line.add("hold", "teacher", hold=True)
    ran = []
    with adm.slot("student a", light=True):                # nothing of a's runs: at once
        ran.append("light")
        started = threading.Event()

        def second():
            with adm.slot("student a", light=True, poll_s=0.01):
                ran.append("second light")
        t = threading.Thread(target=second)
        t.start()
        wait_until(lambda: adm.waiting == 1)               # a's second light job waits for a slot
        started.set()
    assert ran == ["light"]
    line.release["hold"].set()
    t.join(10)
    line.join()
    assert ran == ["light", "second light"]


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

    def interrupt(place):
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
    adm = Admission(slots=1, stale_s=0.3, quantum_s=10)
    a, b, c = adm.ticket("student a"), adm.ticket("student b"), adm.ticket("student c")
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
    t = threading.Thread(target=lambda: shared.get("other", lambda: hold.wait(5), person="someone"))
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
    t = threading.Thread(target=lambda: shared.get("training chunk", lambda: hold.wait(5), person="someone"))
    t.start()
    time.sleep(0.05)
    start = time.perf_counter()
    assert shared.get("default unroll", lambda: "curve", light=True, person="someone else") == "curve"
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


def test_the_shared_results_are_bounded_in_bytes_and_the_newest_are_kept():
    import numpy as np
    shared = SharedResults(max_entries=1000, admission=Admission(slots=1), max_bytes=10 * 2**20)   # 10 MB
    for i in range(30):                                            # 30 results of 1 MB each
        shared.get(i, lambda: {"curve": np.zeros(2**20 // 8)})
    assert shared.bytes <= 10 * 2**20 and shared.computed == 30
    kept = [i for i in range(30) if i in shared._values]
    assert kept == list(range(21, 30))                            # least recently used dropped first
    huge = shared.get("huge", lambda: np.zeros(11 * 2**20 // 8))  # larger than the bound: returned, not kept
    assert huge.nbytes == 11 * 2**20 and "huge" not in shared._values and shared.bytes <= 10 * 2**20


def test_the_default_cache_bound_is_documented_and_every_kind_of_result_is_counted():
    import core
    from serve.shared import SHARED, value_bytes
    assert SHARED.max_bytes == 256 * 2**20
    res = core.unroll(core.UnrollConfig(seq_len=1000, hidden=64))
    assert value_bytes(res) >= res.grad_norm.nbytes + res.distance.nbytes


def test_light_jobs_running_at_once_are_bounded_by_the_slots():
    adm = Admission(slots=2)
    release, entered = threading.Event(), []

    def light(person):
        with adm.slot(person, light=True, poll_s=0.01):
            entered.append(person)
            release.wait(10)
    threads = [threading.Thread(target=light, args=(f"p{i}",)) for i in range(3)]
    for t in threads[:2]:
        t.start()
    wait_until(lambda: len(entered) == 2)
    assert adm.running == 0                                 # they hold no slot…
    threads[2].start()
    wait_until(lambda: adm.running == 1)                    # …and a third one takes a slot like any job
    release.set()
    for t in threads:
        t.join(10)
    assert sorted(entered) == ["p0", "p1", "p2"]


def test_a_person_is_the_browser_cookie_else_the_client_address_else_the_proxys_forwarded_address():
    from ui.heavy import person_of
    cookie = {"gfl_person": "0123456789abcdef0123456789abcdef"}
    assert person_of(cookie, "203.0.113.7", {}) == "browser:0123456789abcdef0123456789abcdef"
    assert person_of({}, "203.0.113.7", {}) == "address:203.0.113.7"                   # no cookie yet: its address
    assert person_of({"gfl_person": "forged<script>"}, "203.0.113.7", {}) == "address:203.0.113.7"
    proxied = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}                        # HAProxy appends the last
    for loopback in (None, "127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert person_of({}, loopback, proxied) == "address:203.0.113.9"
        assert person_of({}, loopback, {}) == "address:local"
    assert person_of({}, "203.0.113.7", proxied) == "address:203.0.113.7"              # not from our proxy: ignored


def test_a_person_past_the_run_budget_waits_before_its_next_run():
    from ui.heavy import RunBudget
    now = [0.0]
    runs = RunBudget(rate=5.0, burst=20.0, max_wait_s=2.0, clock=lambda: now[0])
    assert [runs.delay("tabs") for _ in range(20)] == [0.0] * 20          # a burst of 20 at once
    assert runs.delay("tabs") == pytest.approx(0.2)                       # then one run per 0.2 s
    assert runs.delay("tabs") == pytest.approx(0.4)
    assert runs.delay("someone else") == 0.0                              # per person
    for _ in range(100):
        runs.delay("tabs")
    assert runs.delay("tabs") == 2.0                                      # never more than max_wait_s
    now[0] = 10.0                                                         # quiet for 10 s: the bucket refills
    assert runs.delay("tabs") == 0.0
