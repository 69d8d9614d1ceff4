"""Run deploy/haproxy.cfg on this machine, without Docker, in front of `streamlit run` processes.

The Docker Compose file uses deploy/haproxy.cfg as is (replicas found through Docker's DNS). Here the
same file is the template: the three lines marked "# local:" are rewritten (listen on
127.0.0.1:<listen_port>, no Docker resolvers section, one static `server` line per backend port) and
everything else -- timeouts, WebSocket tunnel, cookie stickiness, health checks -- stays identical.

    from deploy.local_haproxy import start_local_balancer, stop
    lb = start_local_balancer([8601, 8602], 8600)    # haproxy from Debian: apt-get install haproxy
    ...                                              # http://127.0.0.1:8600/
    stop(lb)                                         # by its PID

lb.config_path is the generated config, lb.log_path HAProxy's log (one line per request, naming the
backend server, e.g. "streamlit/app2"). From a shell:

    .venv/bin/python deploy/local_haproxy.py --listen 8600 8601 8602     # Ctrl-C stops it
    .venv/bin/python deploy/local_haproxy.py --print --listen 8600 8601 8602
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE = Path(__file__).resolve().with_name("haproxy.cfg")
MARKER = "# local:"
LOOPBACK = "127.0.0.1"


def haproxy_binary() -> str:
    """Path of the haproxy executable (Debian puts it in /usr/sbin, not on a normal user's PATH)."""
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)), None)
    if not found:
        raise FileNotFoundError("haproxy is not installed: apt-get install haproxy")
    return found


def _check_port(port) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"a port must be an integer from 1 to 65535, got {port!r}")
    return port


def render_local_config(backend_ports, listen_port: int, template: str | None = None) -> str:
    """deploy/haproxy.cfg with its "# local:" lines rewritten for backends on 127.0.0.1."""
    ports = [_check_port(p) for p in backend_ports]
    if not ports:
        raise ValueError("at least one backend port is needed")
    _check_port(listen_port)
    if listen_port in ports:
        raise ValueError(f"listen port {listen_port} is also a backend port")
    lines = (TEMPLATE.read_text() if template is None else template).splitlines()
    out, seen, skipping = [], set(), False
    for line in lines:
        if skipping:                       # the rest of the resolvers section and its blank line
            skipping = bool(line.strip())
            continue
        code = line.split("#", 1)[0]
        indent = line[: len(line) - len(line.lstrip())]
        if MARKER not in line or line.lstrip().startswith("#"):
            out.append(line)
        elif code.strip().startswith("resolvers "):
            seen.add("resolvers")
            skipping = True
        elif code.strip().startswith("bind "):
            seen.add("bind")
            out.append(f"{indent}bind {LOOPBACK}:{listen_port}")
        elif code.strip().startswith("server-template "):
            seen.add("server")
            out += [f"{indent}server app{i} {LOOPBACK}:{p} check" for i, p in enumerate(ports, 1)]
        else:
            raise ValueError(f"unknown '{MARKER}' line in the HAProxy template: {line.strip()}")
    missing = {"resolvers", "bind", "server"} - seen
    if missing:
        raise ValueError(f"the HAProxy template lacks its '{MARKER}' lines for: {', '.join(sorted(missing))}")
    return "\n".join(out) + "\n"


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((LOOPBACK, port)) == 0


def start_local_balancer(backend_ports, listen_port: int, *, workdir: str | os.PathLike | None = None,
                         timeout: float = 10.0) -> subprocess.Popen:
    """Start HAProxy on 127.0.0.1:listen_port in front of 127.0.0.1:<each backend port>.

    Writes the config (derived from deploy/haproxy.cfg) into `workdir` (a new temporary directory by
    default), checks it with `haproxy -c`, starts HAProxy in the foreground as a child process and
    returns once the listen port accepts connections. The backends need not be up yet: HAProxy
    health-checks them (GET /_stcore/health) and sends clients only to healthy ones.
    """
    binary = haproxy_binary()
    config = render_local_config(backend_ports, listen_port)
    own_dir = workdir is None
    wd = Path(tempfile.mkdtemp(prefix="gfl-haproxy-") if own_dir else workdir)
    wd.mkdir(parents=True, exist_ok=True)
    cfg, log = wd / "haproxy.cfg", wd / "haproxy.log"
    cfg.write_text(config)
    check = subprocess.run([binary, "-c", "-q", "-f", str(cfg)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"haproxy -c rejected {cfg}:\n{check.stdout}{check.stderr}")
    if _listening(listen_port):
        raise RuntimeError(f"port {listen_port} on {LOOPBACK} is already in use")
    with open(log, "ab") as log_file:
        proc = subprocess.Popen([binary, "-db", "-f", str(cfg)], stdin=subprocess.DEVNULL,
                                stdout=log_file, stderr=subprocess.STDOUT)
    proc.config_path, proc.log_path, proc.workdir, proc.own_workdir = cfg, log, wd, own_dir
    proc.listen_port = listen_port
    deadline = time.monotonic() + timeout
    while not _listening(listen_port):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError(f"haproxy did not start listening on {listen_port}:\n{log.read_text()}")
        time.sleep(0.05)
    return proc


def stop(proc, timeout: float = 10.0, keep_files: bool = False) -> None:
    """Stop a balancer started by start_local_balancer (a Popen, or its PID) by its PID alone.

    The temporary directory it made (config and log) is removed unless keep_files is true."""
    pid = proc if isinstance(proc, int) else proc.pid
    popen = None if isinstance(proc, int) else proc
    if popen is not None and popen.poll() is not None:
        _cleanup(popen, keep_files)
        return
    try:
        os.kill(pid, signal.SIGTERM)       # HAProxy: SIGTERM is an immediate stop, SIGUSR1 a graceful one
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen is not None:
            if popen.poll() is not None:
                break
        elif not _alive(pid):
            break
        time.sleep(0.05)
    else:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if popen is not None:
            popen.wait(timeout=5)
    if popen is not None:
        _cleanup(popen, keep_files)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:                                   # a zombie child of ours is dead too: reap it
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _cleanup(popen, keep_files: bool = False) -> None:
    if getattr(popen, "own_workdir", False) and not keep_files:
        shutil.rmtree(popen.workdir, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=int, required=True, help="port HAProxy listens on (127.0.0.1)")
    parser.add_argument("backend_ports", type=int, nargs="+", help="ports of the streamlit processes")
    parser.add_argument("--print", action="store_true", help="print the generated config and exit")
    args = parser.parse_args(argv)
    if args.print:
        sys.stdout.write(render_local_config(args.backend_ports, args.listen))
        return 0
    # Ctrl-C and SIGTERM both stop HAProxy by its PID on the way out (a background job starts with
    # SIGINT ignored, hence the explicit handlers).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    proc = start_local_balancer(args.backend_ports, args.listen)
    print(f"haproxy (pid {proc.pid}) on http://{LOOPBACK}:{args.listen}/, log {proc.log_path}", flush=True)
    try:
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
