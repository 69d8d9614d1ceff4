"""`streamlit run` as a user starts it, on a free loopback port, waited for on /_stcore/health and stopped by its
own PID; and what a benchmark reads of the processes it started (CPU time, resident memory, health latency)."""
from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # loopback: never through a proxy
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float) -> tuple[bytes, list[str]]:
    """Body and Set-Cookie headers of a GET on loopback."""
    with HTTP.open(url, timeout=timeout) as resp:
        return resp.read(), resp.headers.get_all("Set-Cookie") or []


def wait_healthy(base: str, deadline_s: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    """Return once GET base/_stcore/health answers ok; raises if `proc` exits first or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        with suppress(OSError):
            if http_get(base + "/_stcore/health", timeout=2)[0] == b"ok":
                return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{base}: streamlit exited with status {proc.returncode}")
        time.sleep(0.25)
    raise TimeoutError(f"{base} was not healthy within {deadline_s:.0f} s")


def start_streamlit(script: Path | str = "app.py", port: int | None = None, cwd: Path = ROOT,
                    env: dict | None = None, log: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start `streamlit run script` (headless, no file watcher) on `port` (default: a free one); output to `log`
    or discarded. Returns the process and its base URL; wait_healthy before using it, stop_process after."""
    port = port or free_port()
    out = open(log, "wb") if log is not None else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
             "--server.port", str(port), "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    finally:
        if log is not None:
            out.close()
    return proc, f"http://{LOOPBACK}:{port}"


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Stop one process we started, by its own PID: SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


@contextmanager
def streamlit_server(script: Path | str = "app.py", cwd: Path = ROOT, port: int | None = None, env: dict | None = None,
                     start_timeout: float = 120.0):
    """`streamlit run script` on a free port as a user starts it; yields the base URL once /_stcore/health answers
    ok; stops the server by its own PID."""
    proc, base = start_streamlit(script, port, cwd, env)
    try:
        wait_healthy(base, start_timeout, proc)
        yield base
    finally:
        stop_process(proc)


# ------------------------------------------------------------------------------ what the processes used ----

def loadavg() -> str:
    """The machine's 1, 5 and 15-minute load averages."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "0 n/a n/a"


def wait_for_load(max_load: float, max_wait: float) -> None:
    """Wait (up to max_wait s) until the 1-minute load average is at most max_load; warn if it never is."""
    deadline = time.monotonic() + max_wait
    while float(loadavg().split()[0]) > max_load and time.monotonic() < deadline:
        time.sleep(15)
    if float(loadavg().split()[0]) > max_load:
        print(f"warning: load average {loadavg()} still above {max_load}: the numbers will be noisy")


def traceback_count(logs: list[Path]) -> int:
    """Python tracebacks in the servers' logs."""
    return sum(p.read_text(errors="replace").count("Traceback (most recent call last)") for p in logs if p.exists())


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used (all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:3]) + sum(fields[5:8])) / CLK_TCK        # user nice system, irq softirq steal


def self_cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Sampler(threading.Thread):
    """Calls `sample()` every `interval` s in a thread of its own until stop(); `with Sampler(...) as s:` starts it
    and stops it on the way out."""

    def __init__(self, interval: float):
        super().__init__(daemon=True)
        self.interval, self._halt = interval, threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            t0 = time.perf_counter()
            self.sample()
            self._halt.wait(max(0.0, self.interval - (time.perf_counter() - t0)))

    def sample(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=self.interval + 15)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class HealthPoller(Sampler):
    """GET /_stcore/health every `interval` s (not on the caller's event loop): latencies and failures."""

    def __init__(self, base: str, interval: float = 0.5, timeout: float = 10.0):
        super().__init__(interval)
        self.url, self.timeout = base + "/_stcore/health", timeout
        self.latencies: list[float] = []
        self.failures: list[str] = []

    def sample(self) -> None:
        t0 = time.perf_counter()
        try:
            body = http_get(self.url, self.timeout)[0]
            if body == b"ok":
                self.latencies.append(time.perf_counter() - t0)
            else:
                self.failures.append(f"body {body[:40]!r}")
        except Exception as exc:                      # noqa: BLE001 -- every failure is a data point
            self.failures.append(f"{type(exc).__name__}: {exc}"[:120])


class RssSampler(Sampler):
    """A process's resident set (VmRSS, /proc) every 0.25 s; `peak` in bytes."""

    def __init__(self, pid: int):
        super().__init__(0.25)
        self.pid, self.peak = pid, 0

    def sample(self) -> None:
        with suppress(OSError, ValueError, IndexError, StopIteration):
            line = next(x for x in Path(f"/proc/{self.pid}/status").read_text().splitlines()
                        if x.startswith("VmRSS:"))
            self.peak = max(self.peak, int(line.split()[1]) * 1024)


class CpuMeter:
    """Cores used since it was made: by the processes `pids`, by this process, and by the rest of the machine
    (they share the cores, so this process's share is load the others did not get)."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.t0, self.cpu0 = time.perf_counter(), sum(map(cpu_seconds, pids))
        self.self0, self.busy0 = self_cpu_seconds(), machine_busy_seconds()

    def read(self) -> dict[str, float]:
        """wall (s), and server_cpu, client_cpu and other_cpu in cores."""
        wall = time.perf_counter() - self.t0
        served = (sum(map(cpu_seconds, self.pids)) - self.cpu0) / wall
        client = (self_cpu_seconds() - self.self0) / wall
        other = max(0.0, (machine_busy_seconds() - self.busy0) / wall - served - client)
        return {"wall": wall, "server_cpu": served, "client_cpu": client, "other_cpu": other}


# ------------------------------------------------------------------------------- which code a server runs ----

APP_TREES = ["app.py", "app_pages", "ui", "core"]


def snapshot_head(into: Path) -> str:
    """Extract the committed tree at HEAD into `into` (git archive; the working tree is left alone): a server run
    there holds still while someone edits the app. Returns the commit."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=True, timeout=10).stdout.strip()
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True, check=True,
                             timeout=60).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True, timeout=60)
    return commit


def code_version() -> str:
    """HEAD, and how many of the app's files differ from it."""
    def git(*cmd: str) -> str:
        out = subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False)
        return out.stdout.strip() if out.returncode == 0 else "?"
    dirty = git("status", "--porcelain", "--", *APP_TREES)
    return f"{git('rev-parse', '--short', 'HEAD')} ({len(dirty.splitlines()) if dirty else 0} app files modified)"


def code_mtime() -> float:
    """The newest modification time of the app's code (compare before and after a run)."""
    paths = [ROOT / "app.py", *[p for d in APP_TREES[1:] for p in (ROOT / d).rglob("*.py")]]
    return max((p.stat().st_mtime for p in paths if p.exists()), default=0.0)
