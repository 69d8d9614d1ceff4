"""The deployment files: the Dockerfile agrees with the README's install steps and the lock file, the
Compose/HAProxy/Kubernetes files are valid, and the HAProxy config really balances two `streamlit run`
processes here (sticky cookie, WebSocket upgrade). The image itself is built and run by
tests/test_container.py (podman)."""
import json
import re
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from conftest import free_port, streamlit_server
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from deploy import local_haproxy

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOCKERFILE = (ROOT / "Dockerfile").read_text()
README = (ROOT / "README.md").read_text()
LOCK = ROOT / "requirements.lock"
HAPROXY_CFG = DEPLOY / "haproxy.cfg"
K8S = DEPLOY / "k8s"
K8S_VERSION = "1.30"          # oldest Kubernetes the manifests must suit (schemas ship in kubernetes-validate)
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
HEALTH = "/_stcore/health"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def instructions():
    """Dockerfile instructions with continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def requirement_lines(path):
    return [l.strip() for l in Path(path).read_text().splitlines() if l.strip() and not l.strip().startswith("#")]


def locked():
    """{canonical name: version string} from requirements.lock."""
    pins = {}
    for line in requirement_lines(LOCK):
        name, _, version = line.partition("==")
        pins[canonicalize_name(name)] = version
    return pins


# --- README, scripts, requirements -----------------------------------------------------------------

def test_readme_commands_are_the_scripts_ci_runs():
    assert "bash scripts/run.sh" in README and "bash scripts/test.sh" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci
    run_sh = (ROOT / "scripts" / "run.sh").read_text()
    assert re.search(r'setup-env\.sh" requirements\.(txt|lock)', run_sh) and "streamlit run app.py" in run_sh
    test_sh = (ROOT / "scripts" / "test.sh").read_text()
    assert "requirements-dev.txt" in test_sh and re.search(r"apt-get \S+ install", test_sh) and "chromium" in test_sh
    for package in ("podman", "runc", "debootstrap"):             # tests/test_container.py builds and runs the image
        assert package in test_sh
    assert "CONTAINERS_CONF" in test_sh and "DPkg::Lock::Timeout" in test_sh


def test_requirements_are_pinned():
    reqs = requirement_lines(ROOT / "requirements.txt")
    assert reqs and all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][0-9A-Za-z.]*", r) for r in reqs), reqs
    assert "torch==2.13.0" in reqs
    dev = (ROOT / "requirements-dev.txt").read_text()
    assert re.search(r"^-r requirements\.(txt|lock)$", dev, re.M)
    for line in requirement_lines(ROOT / "requirements-dev.txt"):
        assert line.startswith("-r ") or re.fullmatch(r"[A-Za-z0-9_.\-]+==\S+", line), line


def test_lock_pins_every_requirement_at_its_version_and_the_cpu_torch():
    text = LOCK.read_text()
    assert "deploy/relock.sh" in text.split("\n\n")[0]          # the header says how to regenerate it
    lines = requirement_lines(LOCK)
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][0-9A-Za-z.+]*", l) for l in lines), lines
    pins = locked()
    assert len(pins) == len(lines), "a package is pinned twice"
    assert pins["torch"] == "2.13.0+cpu"                       # the CPU build, from the CPU index only
    assert not [n for n in pins if n.startswith(("nvidia-", "cuda-", "triton"))], "CUDA packages in the lock"
    assert "pip" not in pins and "setuptools" in pins           # torch 2.13 needs setuptools at run time
    for req in map(Requirement, requirement_lines(ROOT / "requirements.txt")):
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is not in requirements.lock: run bash deploy/relock.sh"
        assert req.specifier.contains(Version(pins[name]), prereleases=True), \
            f"requirements.txt asks for {req}, the lock has {pins[name]}: run bash deploy/relock.sh"


def test_lock_is_closed_under_dependencies():
    """Every dependency of every locked package is locked too, at a version it accepts. The
    dependencies are read from the installed packages' metadata: when the test venv is installed from
    the lock (requirements-dev.txt: -r requirements.lock) it must hold exactly the locked versions;
    when it is installed from requirements.txt, a newer transitive release is only a warning."""
    import warnings
    from importlib.metadata import PackageNotFoundError, distribution
    pins = locked()
    env = default_environment()
    venv_from_lock = re.search(r"^-r requirements\.lock$", (ROOT / "requirements-dev.txt").read_text(), re.M)
    problems = []
    for name, version in pins.items():
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            problems.append(f"{name}=={version} is locked but not installed in {sys.prefix}")
            continue
        if Version(dist.version) != Version(version):
            message = f"{name}: locked {version}, installed {dist.version} (stale lock or venv?)"
            if venv_from_lock:
                problems.append(message)
                continue
            warnings.warn(message)
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker and not req.marker.evaluate({**env, "extra": ""}):
                continue
            dep = canonicalize_name(req.name)
            if dep not in pins:
                problems.append(f"{name} needs {req}, which is not locked")
            elif not req.specifier.contains(Version(pins[dep]), prereleases=True):
                problems.append(f"{name} needs {req}, the lock has {pins[dep]}")
    assert not problems, "\n".join(problems)


# --- Dockerfile --------------------------------------------------------------------------------------

def test_docker_installs_the_lock_torch_from_the_cpu_index_and_the_rest_from_pypi():
    lines = instructions()
    pip_runs = [l for l in lines if l.startswith("RUN") and "pip install" in l]
    assert len(pip_runs) == 1, pip_runs
    steps = [s.strip() for s in pip_runs[0][len("RUN"):].split("&&")]
    torch_step, rest_step, check_step, *cleanup = steps
    # 1. torch alone, without dependencies, from the torch index (a build argument: PyTorch's CPU index
    #    unless told otherwise), at the lock's version
    assert torch_step.split() == ["pip", "install", "--no-deps", "--index-url", '"$TORCH_INDEX_URL"',
                                  "--constraint", "requirements.lock", "torch"], torch_step
    assert f"ARG TORCH_INDEX_URL={CPU_INDEX}" in lines
    # 2. the whole lock from PyPI (the default index, or PIP_INDEX_URL's), nothing unpinned
    assert rest_step.split() == ["pip", "install", "--no-deps", "-r", "requirements.lock"], rest_step
    assert check_step == "pip check"
    # 3. only removals after the check: nothing installed that `pip check` did not see
    assert cleanup and not any("install" in c.split()[:2] for c in cleanup if c.startswith("pip")), cleanup
    assert not any("extra-index-url" in l for l in lines)        # no index may serve every package
    copy_lock = lines.index("COPY requirements.lock ./")
    assert copy_lock < lines.index(pip_runs[0]) < lines.index("COPY . .")   # deps cached apart from code


def test_docker_mirror_arguments_are_build_args_only():
    """`docker build .` builds what it always did; a mirror is a build argument, never image config."""
    lines = instructions()
    from_at = next(i for i, l in enumerate(lines) if l.startswith("FROM "))
    assert lines[from_at] == "FROM ${BASE_IMAGE}"
    default = next(l for l in lines[:from_at] if l.startswith("ARG BASE_IMAGE="))
    assert re.fullmatch(r"ARG BASE_IMAGE=docker\.io/library/python:3\.11-slim@sha256:[0-9a-f]{64}", default), default
    for arg in ("PIP_INDEX_URL", "PIP_TRUSTED_HOST"):
        assert f"ARG {arg}" in lines                              # no default: pip's own unless given
        assert not any(arg in l for l in lines if l.startswith(("ENV", "LABEL")))
    assert not any(re.search(r"pip config|pip\.conf|/etc/pip", l) for l in lines)


def test_docker_follows_the_deployment_guide():
    lines = instructions()
    assert lines[0].startswith("ARG BASE_IMAGE=docker.io/library/python:3.11-slim@sha256:"), lines[0]
    users = [l for l in lines if l.startswith("USER ")]
    assert len(users) == 1 and re.fullmatch(r"USER [1-9][0-9]*(:[1-9][0-9]*)?", users[0]), users
    assert "EXPOSE 8501" in lines
    health = next(l for l in lines if l.startswith("HEALTHCHECK"))
    assert HEALTH in health
    entry = next(l for l in lines if l.startswith("ENTRYPOINT"))
    assert '"app.py"' in entry and "--server.port=8501" in entry and "0.0.0.0" in entry
    for flag in ("--server.headless=true", "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"):
        assert flag in entry
    assert (ROOT / ".streamlit" / "config.toml").exists()


def test_docker_thread_policy():
    env = " ".join(l for l in instructions() if l.startswith("ENV "))
    for var in ("GFL_TORCH_THREADS=1", "OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1"):
        assert re.search(rf"(^|\s){var}(\s|$)", env), var


def test_docker_app_code_is_root_owned_and_read_only_to_the_app_user():
    lines = instructions()
    assert not any("--chown" in l for l in lines if l.startswith(("COPY", "ADD")))
    assert not any(re.search(r"\bchown\b", l) for l in lines if l.startswith("RUN"))
    user_at = next(i for i, l in enumerate(lines) if l.startswith("USER "))
    assert all(not l.startswith(("COPY", "ADD", "RUN")) for l in lines[user_at:]), "build steps after USER"
    chmod = [l for l in lines[:user_at] if l.startswith("RUN") and "chmod" in l]
    assert chmod and "go=rX" in chmod[-1] and "/app" in chmod[-1]   # others: read (and enter dirs), never write
    assert any(l.startswith("RUN") and "compileall" in l for l in lines[:user_at])   # no __pycache__ at run time
    uid = re.fullmatch(r"USER ([0-9]+).*", lines[user_at]).group(1)
    assert f"--uid {uid}" in DOCKERFILE


def test_docker_healthcheck_command_works(balanced):
    """The HEALTHCHECK's own command, aimed at a live app, exits 0; at a closed port, non-zero."""
    cmd = next(l for l in instructions() if l.startswith("HEALTHCHECK")).split(" CMD ", 1)[1]
    argv = json.loads(cmd)                                        # the exec-form JSON array
    assert argv[0] == "python" and "http://127.0.0.1:8501" + HEALTH in argv[-1]
    live = argv[-1].replace(":8501", f":{balanced.app_ports[0]}")
    assert subprocess.run([sys.executable, *argv[1:-1], live], timeout=30).returncode == 0
    dead = argv[-1].replace(":8501", f":{free_port()}")
    assert subprocess.run([sys.executable, *argv[1:-1], dead], capture_output=True, timeout=30).returncode != 0


# --- .dockerignore -----------------------------------------------------------------------------------

def dockerignore_patterns():
    return [l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines()
            if l.strip() and not l.strip().startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as Docker (moby/patternmatcher) reads it."""
    pattern = pattern.strip("/")
    out, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if pattern[i + 1:i + 2] == "*":
                i += 1
                if pattern[i + 1:i + 2] == "/":
                    i += 1
                out += ".*" if i + 1 == len(pattern) else "(.*/)?"
            else:
                out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch in ".+()|{}$":
            out += "\\" + ch
        else:
            out += ch
        i += 1
    return re.compile(out + "$")


def docker_ignores(path: str) -> bool:
    """Whether Docker leaves `path` (relative to the context) out: the last matching pattern decides,
    and a pattern matching a parent directory matches everything under it."""
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    ignored = False
    for pattern in dockerignore_patterns():
        negate = pattern.startswith("!")
        rx = _pattern_regex(pattern.lstrip("!"))
        if any(rx.match(c) for c in candidates):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_what_the_app_needs():
    ignored = dockerignore_patterns()
    assert ".venv" in ignored and ".git" in ignored
    for needed in ("app.py", "app_pages", "ui", "serve", "core", ".streamlit", "requirements.txt", "requirements.lock"):
        assert needed not in ignored
        assert not docker_ignores(needed)
    assert not docker_ignores(".streamlit/config.toml")
    # every page the router lists is shipped, and every module of the app
    from ui.nav import PAGES
    for path, *_ in PAGES:
        assert not docker_ignores(path), path
    for folder in ("core", "serve", "ui", "app_pages"):
        for py in (ROOT / folder).glob("*.py"):
            assert not docker_ignores(py.relative_to(ROOT).as_posix()), py


@pytest.mark.parametrize("path", [
    ".venv/bin/python", ".git/HEAD", ".streamlit/secrets.toml", "ui/.streamlit/secrets.toml", ".env",
    ".env.production", "core/.env", "server.pem", "deploy/tls/server.key", "core/__pycache__/x.cpython-311.pyc",
    "x.pyc", ".pytest_cache/v/cache", "app-shots/home.png", "tests/test_core.py", "benchmarks/bench_unroll.py",
    "harness/server.py", "deploy/k8s/deployment.yaml",
])
def test_dockerignore_leaves_out_secrets_caches_and_tests(path):
    assert docker_ignores(path), path


# --- Docker Compose and HAProxy ----------------------------------------------------------------------

def compose():
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_runs_replicas_behind_haproxy():
    services = compose()["services"]
    app, lb = services["app"], services["lb"]
    assert app["build"]["context"] == ".." and (DEPLOY / app["build"]["context"] / "Dockerfile").exists()
    assert app["deploy"]["replicas"] == "${GFL_REPLICAS:-2}"     # 2 unless GFL_REPLICAS (or --scale) says
    assert "ports" not in app and "container_name" not in app    # replicas must not claim a host port
    assert app["environment"]["GFL_TORCH_THREADS"] == "1"
    assert HEALTH in " ".join(app["healthcheck"]["test"])
    assert app["read_only"] is True and any(t.startswith("/tmp") for t in app["tmpfs"])
    assert re.fullmatch(r"docker\.io/library/haproxy:[0-9.]+(-alpine)?@sha256:[0-9a-f]{64}", lb["image"]), lb["image"]
    assert app["image"].startswith("localhost/")                 # fully qualified: podman takes no short names
    source, target = lb["volumes"][0].split(":")[:2]
    assert (DEPLOY / source).resolve() == HAPROXY_CFG and target == "/usr/local/etc/haproxy/haproxy.cfg"
    assert lb["ports"] == ["${GFL_PORT:-8501}:8501"]
    assert lb["depends_on"]["app"]["condition"] == "service_healthy"
    cfg = HAPROXY_CFG.read_text()
    assert re.search(r"^\s*bind :8501\b", cfg, re.M)
    assert re.search(r"^\s*server-template app \d+-\d+ app:8501 .*resolvers engine\b", cfg, re.M)
    # the engine's DNS from the container's resolv.conf: Docker (127.0.0.11) and podman alike
    section = re.search(r"^resolvers engine\b.*?(?=^\S|\Z)", cfg, re.M | re.S).group(0)
    assert re.search(r"^\s*parse-resolv-conf$", section, re.M) and "127.0.0.11" not in section


def test_haproxy_config_has_sticky_cookies_websockets_and_health_checks():
    cfg = HAPROXY_CFG.read_text()
    assert re.search(r"^\s*cookie GFLSRV insert indirect nocache\b.*\bdynamic\b", cfg, re.M)
    assert re.search(r"^\s*dynamic-cookie-key \S+", cfg, re.M)
    assert re.search(rf"^\s*http-check send meth GET uri {HEALTH}$", cfg, re.M)
    assert re.search(r"^\s*http-check expect string ok$", cfg, re.M)
    assert re.search(r"^\s*timeout tunnel 1h$", cfg, re.M)         # idle WebSockets stay open


def haproxy_or_fail() -> str:
    try:
        return local_haproxy.haproxy_binary()
    except FileNotFoundError:
        pytest.fail("haproxy is not installed: scripts/test.sh installs it with apt when root; "
                    "otherwise run 'sudo apt-get install haproxy'")


def haproxy_check(path) -> subprocess.CompletedProcess:
    return subprocess.run([haproxy_or_fail(), "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)


def test_haproxy_cfg_passes_haproxy_check():
    res = haproxy_check(HAPROXY_CFG)
    assert res.returncode == 0, res.stdout + res.stderr


def test_local_config_changes_only_the_marked_lines(tmp_path):
    template = HAPROXY_CFG.read_text().splitlines()
    local = local_haproxy.render_local_config([9001, 9002, 9003], 9000).splitlines()
    assert "    bind 127.0.0.1:9000" in local
    assert [l.strip() for l in local if l.strip().startswith("server ")] == [
        "server app1 127.0.0.1:9001 check", "server app2 127.0.0.1:9002 check", "server app3 127.0.0.1:9003 check"]
    assert not any("resolvers" in l.split("#")[0] or "server-template" in l for l in local)
    # the rest is the template line for line: drop the marked lines and the resolvers section from both
    resolvers = template.index(next(l for l in template if l.startswith("resolvers ")))
    end = template.index("", resolvers)
    kept = [l for i, l in enumerate(template) if not resolvers <= i <= end and local_haproxy.MARKER not in l
            or l.lstrip().startswith("#")]
    assert [l for l in local if l not in ("    bind 127.0.0.1:9000",) and not l.strip().startswith("server ")] == kept
    path = tmp_path / "local.cfg"
    path.write_text("\n".join(local) + "\n")
    res = haproxy_check(path)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("ports, listen", [([], 9000), ([9001], 9001), ([0], 9000), ([9001], 70000)])
def test_local_config_rejects_bad_ports(ports, listen):
    with pytest.raises(ValueError):
        local_haproxy.render_local_config(ports, listen)


# --- the local balancer in front of two real `streamlit run` processes -------------------------------

def _get(url, cookie=None):
    req = urllib.request.Request(url, headers={"Cookie": f"GFLSRV={cookie}"} if cookie else {})
    with NO_PROXY.open(req, timeout=10) as resp:
        cookies = [c for c in resp.headers.get_all("Set-Cookie") or [] if c.startswith("GFLSRV=")]
        return resp.status, cookies, resp.read()


def _wait_healthy(base, proc=None, seconds=180):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{base}: the process exited with {proc.returncode}")
        try:
            if _get(base + HEALTH)[2] == b"ok":
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{base}{HEALTH} never answered ok")


@pytest.fixture(scope="module")
def balanced():
    """Two `streamlit run` processes as a user starts them, HAProxy (deploy/haproxy.cfg made local) in
    front; everything stopped by its own PID."""
    haproxy_or_fail()
    ports = []
    while len(ports) < 3:
        port = free_port()
        if port not in ports:
            ports.append(port)
    *app_ports, listen = ports
    with ExitStack() as stack:
        for p in app_ports:
            stack.enter_context(streamlit_server(port=p))
        lb = local_haproxy.start_local_balancer(app_ports, listen)
        try:
            base = f"http://127.0.0.1:{listen}"
            _wait_healthy(base, lb, seconds=30)
            yield SimpleNamespace(base=base, app_ports=app_ports, listen=listen, lb=lb)
        finally:
            local_haproxy.stop(lb)
            assert lb.poll() is not None


def _served_by(lb, marker, count, seconds=10):
    """Backend servers of the requests whose URL contains `marker`, from HAProxy's log (a line is
    written when a request, or a WebSocket tunnel, ends)."""
    deadline = time.monotonic() + seconds
    while True:
        hits = re.findall(rf"streamlit/(app\d+) .*\"GET \S*{re.escape(marker)}\S* HTTP", lb.log_path.read_text())
        if len(hits) >= count or time.monotonic() > deadline:
            return hits
        time.sleep(0.1)


def test_balancer_answers_health(balanced):
    status, _, body = _get(balanced.base + HEALTH)
    assert (status, body) == (200, b"ok")


def test_balancer_pins_a_client_to_one_backend_by_cookie(balanced):
    # fresh clients (no cookie) get a cookie naming their backend; both backends are in rotation
    cookies = {}
    for i in range(10):
        status, set_cookies, _ = _get(f"{balanced.base}/?probe=fresh{i}")
        assert status == 200 and len(set_cookies) == 1, set_cookies
        assert "HttpOnly" in set_cookies[0] and "SameSite=Lax" in set_cookies[0]
        value = set_cookies[0].split(";")[0].split("=", 1)[1]
        cookies.setdefault(value, i)
        if len(cookies) == 2:
            break
    assert len(cookies) == 2, "HAProxy sent every new client to the same backend"
    servers = {}
    for value in cookies:
        for k in range(6):
            status, set_cookies, _ = _get(f"{balanced.base}/?probe=pinned-{value}-{k}", cookie=value)
            assert status == 200 and not set_cookies          # the client keeps its cookie: none re-sent
        hits = _served_by(balanced.lb, f"probe=pinned-{value}-", 6)
        assert len(hits) == 6 and len(set(hits)) == 1, hits   # every request on one backend
        servers[value] = hits[0]
    assert len(set(servers.values())) == 2, servers           # each cookie names its own backend


def test_balancer_upgrades_the_streamlit_websocket_on_the_pinned_backend(balanced):
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ClientState_pb2 import ClientState
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    _, set_cookies, _ = _get(f"{balanced.base}/?probe=ws-page")
    cookie = set_cookies[0].split(";")[0].split("=", 1)[1]
    page_server = _served_by(balanced.lb, "probe=ws-page", 1)[0]
    url = f"ws://127.0.0.1:{balanced.listen}/_stcore/stream?probe=ws-stream"
    with connect(url, subprotocols=["streamlit"], additional_headers={"Cookie": f"GFLSRV={cookie}"},
                 proxy=None, open_timeout=15) as ws:
        assert ws.response.status_code == 101 and ws.subprotocol == "streamlit"
        ws.send(BackMsg(rerun_script=ClientState(query_string="", page_name="")).SerializeToString())
        first = ForwardMsg.FromString(ws.recv(timeout=60))      # the session answers through the tunnel
        assert first.WhichOneof("type") is not None
    assert _served_by(balanced.lb, "probe=ws-stream", 1) == [page_server]   # the same backend as the page


def test_a_replica_killed_mid_run_leaves_the_other_saying_the_run_was_lost():
    """Two processes behind the local HAProxy; a browser trains on one, that one is killed (SIGKILL), the browser
    reconnects with its URL and is sent to the other: the page says the run was lost and keeps the settings."""
    import asyncio
    import signal

    import websockets
    from conftest import run_async

    from harness.streamlit_client import StreamlitSession
    haproxy_or_fail()
    ports = []
    while len(ports) < 3:
        if (port := free_port()) not in ports:
            ports.append(port)
    *app_ports, listen = ports
    procs = [subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                               "--server.port", str(p), "--browser.gatherUsageStats", "false"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT) for p in app_ports]
    lb = None
    try:
        for p, proc in zip(app_ports, procs):
            _wait_healthy(f"http://127.0.0.1:{p}", proc)
        lb = local_haproxy.start_local_balancer(app_ports, listen)
        base = f"http://127.0.0.1:{listen}"
        _wait_healthy(base, lb, seconds=30)
        _, set_cookies, _ = _get(f"{base}/?probe=failover")
        cookie = set_cookies[0].split(";")[0].split("=", 1)[1]
        pinned = _served_by(lb, "probe=failover", 1)[0]              # app1 or app2, in port order
        headers = {"Cookie": f"GFLSRV={cookie}; gfl_person={'f' * 32}"}
        query = "seq_len=20&a_hidden=8&batch=8"

        async def train_then_fail_over():
            async with StreamlitSession() as s:
                await s.connect(base, "training", query_string=query, timeout=120, headers=headers)
                await s.click("Step", timeout=120)
                url = s.query_string
            assert "run=" in url and "seq_len=20" in url
            procs[int(pinned[3:]) - 1].send_signal(signal.SIGKILL)   # the replica dies with the run
            procs[int(pinned[3:]) - 1].wait(20)
            # The browser reconnects with the same URL, again and again as Streamlit's page does, until the
            # balancer has taken the dead replica out (until then it answers 502).
            deadline = time.monotonic() + 60
            while True:
                try:
                    async with StreamlitSession() as s:
                        await s.connect(base, "training", query_string=url, timeout=120, headers=headers)
                        return [e.alert.body for e in s.elements("alert")], s.query_string
                except websockets.exceptions.InvalidStatus:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(1)
        alerts, url = run_async(train_then_fail_over())
        lost = [a for a in alerts if "The training run in progress was lost" in a]
        assert lost and "the replica that trained it stopped" in lost[0]
        assert "seq_len=20" in url and "a_hidden=8" in url                # the settings came through
    finally:
        if lb is not None:
            local_haproxy.stop(lb)
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(20)


# --- Kubernetes -------------------------------------------------------------------------------------

def k8s_manifests():
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def k8s_objects():
    objs = {}
    for path in k8s_manifests():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                objs[doc["kind"]] = doc
    return objs


def test_kustomization_lists_every_manifest():
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kust["resources"]) == [p.name for p in k8s_manifests()]


@pytest.mark.parametrize("path", k8s_manifests(), ids=lambda p: p.name)
def test_k8s_manifests_match_the_schemas(path):
    """Strict schema validation (unknown fields are errors) against the Kubernetes OpenAPI schemas that
    ship inside kubernetes-validate: offline, no cluster."""
    import kubernetes_validate
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{path.name}: {'.'.join(map(str, e.path))}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            pytest.fail(f"{path.name}: {e.message}")


def test_k8s_deployment_probes_threads_resources_and_security():
    objs = k8s_objects()
    dep = objs["Deployment"]
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": 8501}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = c[probe]["httpGet"]
        assert get["path"] == HEALTH and ports.get(get["port"], get["port"]) == 8501, probe
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["GFL_TORCH_THREADS"] == "1" and env["OMP_NUM_THREADS"] == "1" and env["MKL_NUM_THREADS"] == "1"
    assert c["resources"]["limits"] == {"cpu": "1", "memory": "4608Mi"}
    assert c["resources"]["requests"] == c["resources"]["limits"]          # Guaranteed QoS
    uid = re.search(r"^USER ([0-9]+)", DOCKERFILE, re.M).group(1)
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == int(uid)
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]                             # torch needs a writable /tmp


def test_k8s_service_ingress_and_hpa_fit_together():
    objs = k8s_objects()
    dep, svc, ing, hpa = objs["Deployment"], objs["Service"], objs["Ingress"], objs["HorizontalPodAutoscaler"]
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert all(pod_labels.get(k) == v for k, v in svc["spec"]["selector"].items())
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (sport,) = svc["spec"]["ports"]
    assert sport["targetPort"] in {p["name"] for p in dep["spec"]["template"]["spec"]["containers"][0]["ports"]}
    ann = ing["metadata"]["annotations"]
    assert ann["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert ann["nginx.ingress.kubernetes.io/affinity-mode"] == "persistent"
    assert ann["nginx.ingress.kubernetes.io/session-cookie-name"]
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(ann[f"nginx.ingress.kubernetes.io/{timeout}"]) >= 3600    # idle WebSockets stay open
    assert ing["spec"]["ingressClassName"] == "nginx"
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == svc["metadata"]["name"] and backend["port"]["name"] == sport["name"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": dep["metadata"]["name"]}
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert objs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_streamlit_config_hides_tracebacks_and_developer_chrome():
    """Anonymous users never see a traceback with server paths, nor Deploy/Rerun/Clear cache."""
    import tomllib
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
    assert config["client"]["toolbarMode"] == "viewer"
    assert config["runner"]["postScriptGC"] is False
