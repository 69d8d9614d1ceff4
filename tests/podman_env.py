"""podman for the container tests (tests/test_container.py): the engine's settings, the stand-in base
image, a local mirror of the lock's wheels (a torch index and a package index), builds, and containers
started with deploy/compose.yaml's settings. Everything created here is removed by its id."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONTAINERS_CONF = ROOT / "scripts" / "containers.conf"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gradient-flow-lab"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
BUILD = ["build", "--isolation", "chroot", "--pull=never", "--format", "docker",
         "--network", "host",     # the build reaches the torch index on the host's 127.0.0.1
         "--layers=false"]        # no intermediate images left behind: removing the image removes all


def podman_cwd() -> Path:
    """Where podman runs: conmon writes a file named "oom" into its working directory when the kernel
    kills a container for memory (podman 4.3), which must not land in the checkout."""
    path = CACHE / "podman-cwd"
    path.mkdir(parents=True, exist_ok=True)
    return path


def podman_env() -> dict:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return env


def podman(*args, timeout=120, check=True) -> subprocess.CompletedProcess:
    """`podman ARGS`; on failure (with check) an AssertionError with the end of its output."""
    argv = ["podman", *map(str, args)]
    res = subprocess.run(argv, env=podman_env(), cwd=podman_cwd(), capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(argv[:3])} ... exited {res.returncode}:\n{(res.stdout + res.stderr)[-3000:]}")
    return res


def podman_lines(*args, timeout=120) -> list[str]:
    """The lines `podman ARGS` writes, stdout and stderr interleaved as written."""
    res = subprocess.run(["podman", *map(str, args)], env=podman_env(), cwd=podman_cwd(), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return res.stdout.splitlines()


def require_podman():
    if not shutil.which("podman"):
        raise AssertionError("podman is not installed: scripts/test.sh installs podman, runc and debootstrap "
                             "with apt when root; otherwise 'sudo apt-get install podman runc debootstrap'")


def base_image() -> str:
    """The stand-in for python:3.11-slim (scripts/container-base.sh, cached by a hash of its inputs)."""
    res = subprocess.run(["bash", str(ROOT / "scripts" / "container-base.sh")], env=podman_env(),
                         capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        raise AssertionError(f"scripts/container-base.sh failed:\n{res.stderr[-3000:]}")
    return res.stdout.strip().splitlines()[-1]


def lock_wheels() -> list[Path]:
    """Every wheel of requirements.lock as pip on this machine finds it (its cache, find-links or
    indexes), downloaded once into ~/.cache/gradient-flow-lab/wheels (again when the lock changes)."""
    lock = ROOT / "requirements.lock"
    wheels = CACHE / "wheels"
    done = wheels / f"lock-{hashlib.sha256(lock.read_bytes()).hexdigest()[:16]}.done"
    if not done.exists():
        wheels.mkdir(parents=True, exist_ok=True)
        # this interpreter's own tags: the tests run on Python 3.11 and glibc, as the image does
        res = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                              "-d", str(wheels), "-r", str(lock)], capture_output=True, text=True, timeout=1800)
        if res.returncode != 0:
            raise AssertionError(f"pip could not download requirements.lock:\n{res.stdout[-1500:]}{res.stderr[-1500:]}")
        done.write_text("")
    pins = {}
    for line in lock.read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.strip().split("==", 1)
            pins[canonical(name)] = version
    found = [w for w in sorted(wheels.glob("*.whl"))
             if pins.get(canonical(w.name.split("-")[0])) == w.name.split("-")[1]]
    missing = set(pins) - {canonical(w.name.split("-")[0]) for w in found}
    if missing:
        raise AssertionError(f"no wheel in {wheels} for {sorted(missing)}")
    return found


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def write_simple_index(root: Path, wheels: list[Path]):
    """A PEP 503 index of `wheels` under `root`: root/<project>/index.html beside links to the files."""
    for wheel in wheels:
        project = root / canonical(wheel.name.split("-")[0])
        project.mkdir(parents=True, exist_ok=True)
        (project / wheel.name).symlink_to(wheel)
        href = wheel.name.replace("+", "%2B")
        with open(project / "index.html", "a") as page:
            page.write(f'<a href="{href}">{wheel.name}</a><br>\n')


@contextmanager
def local_mirror():
    """The lock's wheels served on 127.0.0.1 as two indexes, as a mirror behind a firewall would serve
    them: (torch index URL with torch alone, package index URL with everything else)."""
    wheels = lock_wheels()
    with tempfile.TemporaryDirectory(prefix="gfl-index-") as root:
        def is_torch(wheel):
            return canonical(wheel.name.split("-")[0]) == "torch"
        write_simple_index(Path(root, "torch"), [w for w in wheels if is_torch(w)])
        write_simple_index(Path(root, "pypi"), [w for w in wheels if not is_torch(w)])
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                   "--directory", root], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: http_get(base + "/torch/torch/")[0] == 200, 20, f"the local index at {base}")
            yield base + "/torch", base + "/pypi"
        finally:
            server.terminate()
            server.wait(timeout=20)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, headers=None, timeout=5):
    """(status, headers, body) or (None, None, b"") when nothing answers."""
    try:
        with NO_PROXY.open(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()
    except OSError:
        return None, None, b""


def wait_for(condition, seconds, what, interval=0.25):
    """Poll `condition` until it is true; seconds it took, or AssertionError naming `what`."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if condition():
            return time.monotonic() - start
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {seconds} s")


def build(dockerfile: Path, tag: str, build_args: dict, context: Path = ROOT, timeout=1200):
    """podman build as in the README (build arguments only); the CompletedProcess, unchecked."""
    args = [a for k, v in build_args.items() for a in ("--build-arg", f"{k}={v}")]
    return podman(*BUILD, "-f", dockerfile, "-t", tag, *args, context, timeout=timeout, check=False)


def image_id(ref: str) -> str | None:
    res = podman("image", "inspect", "--format", "{{.Id}}", ref, check=False)
    return res.stdout.strip() or None if res.returncode == 0 else None


def image_size(ref: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", ref).stdout.strip())


def compose_service(name: str) -> dict:
    return yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"][name]


def compose_flags(service: dict) -> list[str]:
    """`podman run` flags for a Compose service's runtime settings: read-only root, tmpfs, capabilities,
    security options, environment and the deploy section's CPU and memory limits."""
    flags = []
    if service.get("read_only"):
        flags.append("--read-only")
    flags += [f"--tmpfs={t}" for t in service.get("tmpfs", [])]
    flags += [f"--cap-drop={c}" for c in service.get("cap_drop", [])]
    flags += [f"--security-opt={o}" for o in service.get("security_opt", [])]
    flags += [f"--env={k}={v}" for k, v in service.get("environment", {}).items()]
    limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
    if "cpus" in limits:
        flags.append(f"--cpus={limits['cpus']}")
    if "memory" in limits:
        flags.append(f"--memory={limits['memory']}")
    return flags


def run_container(image: str, *flags, args=()) -> str:
    """`podman run -d` with `flags`; the container's id."""
    return podman("run", "--detach", *flags, image, *args, timeout=120).stdout.strip().splitlines()[-1]


def remove_container(cid: str):
    podman("rm", "--force", "--time=0", cid, check=False, timeout=120)


def published_port(cid: str, port=8501) -> int:
    out = podman("port", cid, f"{port}/tcp").stdout.strip().splitlines()[0]
    return int(out.rsplit(":", 1)[1])


def exec_in(cid: str, *argv, timeout=300, check=True) -> subprocess.CompletedProcess:
    return podman("exec", cid, *argv, timeout=timeout, check=check)


# Runs inside the container: every socket-table line it has not printed before, with its protocol,
# five times a second (a closed TCP connection stays in the table for a minute as TIME_WAIT).
SOCKET_WATCH = """
import time
seen = set()
while True:
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        with open("/proc/net/" + proto) as f:
            for line in f.read().splitlines()[1:]:
                key = (proto, " ".join(line.split()[1:4]))
                if key not in seen:
                    seen.add(key)
                    print(proto, line, flush=True)
    time.sleep(0.2)
"""


def watch_sockets(cid: str) -> subprocess.Popen:
    """Start SOCKET_WATCH in the container; stop it with stop_watch(), which returns what it saw."""
    return subprocess.Popen(["podman", "exec", cid, "python", "-c", SOCKET_WATCH], env=podman_env(), cwd=podman_cwd(),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def stop_watch(proc: subprocess.Popen) -> list[dict]:
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    return [parse_socket_line(*line.split(None, 1)) for line in out.splitlines() if line.strip()]


def parse_socket_line(proto: str, line: str) -> dict:
    fields = line.split()
    (local, local_port), (remote, remote_port) = (f.split(":") for f in fields[1:3])
    return {"proto": proto, "local": _addr(local), "local_port": int(local_port, 16),
            "remote": _addr(remote), "remote_port": int(remote_port, 16), "state": fields[3]}


def sockets(cid: str) -> list[dict]:
    """The container's TCP and UDP sockets now, from /proc/net (its own network namespace)."""
    out = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        text = exec_in(cid, "cat", f"/proc/net/{proto}").stdout
        out += [parse_socket_line(proto, line) for line in text.splitlines()[1:]]
    return out


def _addr(hex_addr: str) -> str:
    """An address of /proc/net/tcp (little-endian 32-bit words) as text."""
    import ipaddress
    raw = bytes.fromhex(hex_addr)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    addr = ipaddress.ip_address(words)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return str(addr)


def outbound(socks: list[dict], server_port=8501) -> list[dict]:
    """Sockets that reach anything but the server itself: a socket is fine when it is unconnected
    (listening, remote 0.0.0.0 / ::), a client's connection to the server's port, or a connection to the
    server's port on loopback (the health check)."""
    unconnected = {"0.0.0.0", "::"}
    loopback = re.compile(r"^(127\.|::1$)")
    return [s for s in socks
            if s["remote"] not in unconnected and s["local_port"] != server_port
            and not (loopback.match(s["remote"]) and s["remote_port"] == server_port)]
