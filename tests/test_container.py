"""The Docker image, built and run: the project's Dockerfile built with podman through its build
arguments only (a stand-in base for python:3.11-slim, every package from a local mirror), one
container started with deploy/compose.yaml's settings, then two replicas behind HAProxy
(deploy/haproxy.cfg, Debian's haproxy) on one network. One build per session; every container,
network and image is removed by id."""
import json
import os
import re
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import podman_env as pm
import pytest
from conftest import wait_for_app_idle
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from ui.nav import PAGES

pytestmark = pytest.mark.timeout(1500)      # the first test pays for the base (cold) and the build

HEALTH = "/_stcore/health"
LAYERS_ABOVE_BASE_MAX = 1.1e9               # bytes; the README quotes the measured figure
SIZE_NOTE = {}                              # measured figures, printed by the size test


@pytest.fixture(scope="session")
def base():
    pm.require_podman()
    start = time.monotonic()
    image = pm.base_image()
    SIZE_NOTE["base seconds"] = round(time.monotonic() - start, 1)
    return image


@pytest.fixture(scope="session")
def built(base):
    """The app's image, built once: (image id, the build's output). For working on these tests only:
    GFL_TEST_IMAGE=ID GFL_TEST_IMAGE_LOG=PATH reuse an image built earlier (and keep it)."""
    if os.environ.get("GFL_TEST_IMAGE"):
        yield os.environ["GFL_TEST_IMAGE"], Path(os.environ["GFL_TEST_IMAGE_LOG"]).read_text()
        return
    tag = f"localhost/gfl-test:{uuid.uuid4().hex[:12]}"
    with pm.local_mirror() as (torch_index, package_index):
        start = time.monotonic()
        res = pm.build(pm.ROOT / "Dockerfile", tag, {
            "BASE_IMAGE": base, "TORCH_INDEX_URL": torch_index,
            "PIP_INDEX_URL": package_index, "PIP_TRUSTED_HOST": "127.0.0.1"})
        SIZE_NOTE["build seconds"] = round(time.monotonic() - start, 1)
    image = pm.image_id(tag)
    try:
        assert res.returncode == 0 and image, f"the build failed:\n{(res.stdout + res.stderr)[-4000:]}"
        yield image, res.stdout + res.stderr
    finally:
        if image:
            pm.podman("rmi", "--force", image, check=False)


@pytest.fixture(scope="module")
def app(built):
    """One container with compose.yaml's settings, port 8501 published on 127.0.0.1."""
    image, _ = built
    flags = pm.compose_flags(pm.compose_service("app"))
    cid = pm.run_container(image, *flags, "--publish=127.0.0.1::8501")
    watch = None
    try:
        watch = pm.watch_sockets(cid)          # every socket the container has, from its start to its end
        base_url = f"http://127.0.0.1:{pm.published_port(cid)}"
        healthy_after = pm.wait_for(lambda: pm.http_get(base_url + HEALTH)[2] == b"ok", 30,
                                    f"{HEALTH} of the container")
        yield SimpleNamespace(cid=cid, url=base_url, healthy_after=healthy_after, watch=watch)
    finally:
        if watch and watch.poll() is None:
            watch.kill()
            watch.wait(timeout=30)
        pm.remove_container(cid)


# --- the image ---------------------------------------------------------------------------------------

def test_build_args_are_not_left_in_the_image(built, base):
    image, log = built
    # torch from the local torch index, everything else from the local mirror, nothing from elsewhere
    downloads = re.findall(r"Downloading (\S+)", log)
    assert len(downloads) == len(pm.lock_wheels()), downloads
    assert all(re.match(r"http://127\.0\.0\.1:\d+/(torch/torch|pypi)/", d) for d in downloads), downloads
    assert [d for d in downloads if "/torch/torch/" in d] == [d for d in downloads if "/torch-" in d]
    env = json.loads(pm.podman("image", "inspect", "--format", "{{json .Config.Env}}", image).stdout)
    names = {e.split("=", 1)[0] for e in env}
    assert not names & {"PIP_INDEX_URL", "PIP_TRUSTED_HOST", "TORCH_INDEX_URL", "BASE_IMAGE"}, env
    res = pm.podman("run", "--rm", "--network=none", "--entrypoint=pip", image, "config", "list")
    assert "index" not in res.stdout and "trusted" not in res.stdout, res.stdout


def test_image_layers_above_base_are_small(built, base):
    image, _ = built
    above = pm.image_size(image) - pm.image_size(base)
    print(f"\nimage layers above the base: {above / 1e9:.3f} GB; base {pm.image_size(base) / 1e9:.3f} GB; "
          f"{SIZE_NOTE}")
    assert above <= LAYERS_ABOVE_BASE_MAX, f"{above / 1e9:.3f} GB above the base"
    listing = pm.podman("run", "--rm", "--network=none", "--entrypoint=python", image, "-c",
                        "import importlib.util as u, sysconfig, os; p = sysconfig.get_paths()['purelib'];"
                        "print(u.find_spec('networkx'), os.path.exists(p + '/torch/include'),"
                        " os.path.exists(p + '/pandas/tests'), u.find_spec('sympy') is not None)").stdout.split()
    assert listing == ["None", "False", "False", "True"], listing


def test_a_dead_index_fails_the_build_with_pips_error(base):
    tag = f"localhost/gfl-test-dead:{uuid.uuid4().hex[:12]}"
    dead = f"http://127.0.0.1:{pm.free_port()}/simple"
    res = pm.build(pm.ROOT / "Dockerfile", tag, {"BASE_IMAGE": base, "TORCH_INDEX_URL": dead}, timeout=600)
    leftover = pm.image_id(tag)
    if leftover:
        pm.podman("rmi", "--force", leftover, check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and leftover is None
    assert "Connection refused" in out and "/simple/torch/" in out, out[-2000:]     # pip's own retries
    assert re.search(r"^ERROR: ", out, re.M) and 'STEP "RUN pip install' in out, out[-2000:]


# --- one container with compose.yaml's settings ------------------------------------------------------

def test_container_runs_with_the_compose_settings(app):
    host = json.loads(pm.podman("inspect", "--format", "{{json .HostConfig}}", app.cid).stdout)
    limits = pm.compose_service("app")["deploy"]["resources"]["limits"]
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] and not host.get("CapAdd")
    assert any("no-new-privileges" in o for o in host["SecurityOpt"]), host["SecurityOpt"]
    assert host["NanoCpus"] == int(float(limits["cpus"]) * 1e9)
    assert limits["memory"].endswith("M") and host["Memory"] == int(limits["memory"][:-1]) * 2**20
    print(f"\nhealth ok {app.healthy_after:.1f} s after podman run returned")
    assert app.healthy_after < 30
    caps = pm.exec_in(app.cid, "grep", "^CapEff", "/proc/1/status").stdout.split()[1]
    assert int(caps, 16) == 0


def test_healthcheck_passes_and_fails_when_the_server_is_gone(app):
    assert pm.podman("healthcheck", "run", app.cid, check=False).returncode == 0
    cmd = json.loads(pm.podman("inspect", "--format", "{{json .Config.Healthcheck.Test}}", app.cid).stdout)
    probe = [c.replace(":8501", ":8599") if c.startswith("import") else c for c in cmd[1:]]
    assert pm.exec_in(app.cid, *probe, check=False).returncode != 0      # the same command, nothing listening


def test_runs_as_uid_10001_and_cannot_write_app(app):
    status = pm.exec_in(app.cid, "cat", "/proc/1/status").stdout
    assert re.search(r"^Uid:\s+10001\s+10001\s+10001\s+10001$", status, re.M), status
    write = pm.exec_in(app.cid, "python", "-c", "open('/app/app.py', 'a').write('#')", check=False)
    assert write.returncode != 0 and re.search(r"Read-only file system|Permission denied", write.stderr)
    create = pm.exec_in(app.cid, "python", "-c", "open('/app/new.txt', 'w')", check=False)
    assert create.returncode != 0
    assert pm.exec_in(app.cid, "python", "-c", "open('/tmp/x', 'w').write('ok')").returncode == 0   # the tmpfs


def test_every_page_renders_in_a_browser(app, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        for _, title, _, url_path, _ in PAGES:
            page.goto(f"{app.url}/{url_path}", timeout=60_000)
            wait_for_app_idle(page, timeout=120_000)
            assert page.locator('[data-testid="stException"]').count() == 0, url_path
            assert page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title).count() == 1
            main = page.locator('[data-testid="stMain"]').inner_text()
            assert len(main.strip()) > 100, f"{url_path}: {main!r}"
            if url_path in ("gradient-flow", "cliff", "phase"):
                page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    finally:
        context.close()
    assert not errors, errors


def test_an_unroll_and_a_training_step_run_in_the_container(app):
    unroll = json.loads(pm.exec_in(app.cid, "python", "-m", "core", "unroll", "--json").stdout)
    assert len(unroll["grad_norm"]) == unroll["config"]["seq_len"] and unroll["regime"] in (
        "vanishing", "stable", "exploding")
    assert all(g is not None and g > 0 for g in unroll["grad_norm"][:10])
    train = json.loads(pm.exec_in(app.cid, "python", "-m", "core", "train", "--steps", "2", "--json").stdout)
    assert len(train["records"]) == 2 and not train["diverged"]
    bad = pm.exec_in(app.cid, "python", "-m", "core", "unroll", "--seq-len", "0", check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr


def test_nothing_in_the_container_reaches_another_host(app):
    """Every socket the container had since it started (sampled five times a second; a closed TCP
    connection stays listed for a minute): the listening server, its clients and the health check's
    loopback connections, nothing else. Run last of these, after every page, an unroll and a training
    step; it loads a page and trains a step itself too, for when it runs alone."""
    assert pm.http_get(app.url + "/gradient-flow")[0] == 200
    pm.exec_in(app.cid, "python", "-m", "core", "train", "--steps", "1", "--json")
    time.sleep(1)
    seen = pm.stop_watch(app.watch)
    assert any(s["local_port"] == 8501 and s["state"] == "0A" for s in seen)      # it did watch the server
    assert any(s["local_port"] == 8501 and s["state"] != "0A" for s in seen)      # and its clients
    assert not pm.outbound(seen), pm.outbound(seen)
    assert not pm.outbound(pm.sockets(app.cid))


TOO_LITTLE_MEMORY = "150m"    # above the server at rest (~70 MB here), below one page (torch alone is more)


def test_too_little_memory_fails_visibly_not_with_half_a_page(built, browser):
    """A container whose memory limit cannot hold a page: the first page kills it (SIGKILL from the
    kernel's OOM killer, exit 137), health stops answering and the browser is left reconnecting -- it
    never shows a healthy server with half a page. (Measured here: 300 MB holds a default page.)"""
    image, _ = built
    flags = [f for f in pm.compose_flags(pm.compose_service("app")) if not f.startswith("--memory=")]
    cid = pm.run_container(image, *flags, f"--memory={TOO_LITTLE_MEMORY}", "--publish=127.0.0.1::8501")
    context = browser.new_context()
    try:
        url = f"http://127.0.0.1:{pm.published_port(cid)}"
        pm.wait_for(lambda: pm.http_get(url + HEALTH)[2] == b"ok", 30, "health at rest")
        page = context.new_page()
        page.goto(url + "/gradient-flow", timeout=60_000)
        def state():
            return pm.podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", cid).stdout.split()
        pm.wait_for(lambda: state()[0] == "exited", 60, "the container to be killed", interval=0.5)
        assert state() == ["exited", "137"]
        assert pm.http_get(url + HEALTH)[0] is None
        page.wait_for_timeout(2000)
        connection = page.locator('[data-testid="stApp"]').get_attribute("data-test-connection-state")
        assert connection != "CONNECTED" and page.locator(".js-plotly-plot").count() == 0, connection
    finally:
        context.close()
        pm.remove_container(cid)


# --- two replicas behind HAProxy on one network -------------------------------------------------------

HAPROXY_CFG = pm.ROOT / "deploy" / "haproxy.cfg"


def seconds_to_take_out():
    """How long deploy/haproxy.cfg may take to mark a replica down that never answers again: the next
    regular check (inter), then `fall` failed checks, each a connect that gives up after
    min(timeout connect, inter), `fastinter` apart."""
    cfg = HAPROXY_CFG.read_text()
    line = re.search(r"^\s*default-server\b.*$", cfg, re.M).group(0)
    def number(pattern, text=line):
        return int(re.search(pattern, text).group(1))
    inter, fastinter, fall = number(r"\binter (\d+)s\b"), number(r"\bfastinter (\d+)s\b"), number(r"\bfall (\d+)\b")
    connect = int(re.search(r"^\s*timeout connect (\d+)s$", cfg, re.M).group(1))
    return inter + fall * (fastinter + min(connect, inter))


@pytest.fixture(scope="module")
def lb_image(base):
    """deploy/haproxy.Dockerfile (Debian's haproxy) on the stand-in base, which is Debian too."""
    tag = f"localhost/gfl-test-haproxy:{uuid.uuid4().hex[:12]}"
    res = pm.build(pm.ROOT / "deploy" / "haproxy.Dockerfile", tag, {"BASE_IMAGE": base},
                   context=pm.ROOT / "deploy", timeout=600)
    image = pm.image_id(tag)
    try:
        assert res.returncode == 0 and image, (res.stdout + res.stderr)[-3000:]
        yield image
    finally:
        if image:
            pm.podman("rmi", "--force", image, check=False)


def served_cookie(url, cookie=None):
    """The GFLSRV cookie HAProxy sets on a plain GET (None when it sets none)."""
    status, headers, _ = pm.http_get(url, headers={"Cookie": f"GFLSRV={cookie}"} if cookie else None)
    for value in (headers.get_all("Set-Cookie") or []) if headers else []:
        if value.startswith("GFLSRV="):
            return value.split(";", 1)[0].split("=", 1)[1]
    return None


@pytest.fixture(scope="module")
def replicas(built, lb_image):
    """Two app containers (compose.yaml's settings, network alias "app" as Compose gives them) and
    HAProxy with deploy/haproxy.cfg as compose.yaml mounts it, port 8501 published on 127.0.0.1."""
    image, _ = built
    created = []
    network = pm.podman("network", "create", f"gfl-test-{uuid.uuid4().hex[:12]}").stdout.strip()
    try:
        app_flags = pm.compose_flags(pm.compose_service("app")) + [f"--network={network}", "--network-alias=app"]
        apps = [pm.run_container(image, *app_flags) for _ in range(2)]
        created += apps
        lb_service = pm.compose_service("lb")
        source, target = lb_service["volumes"][0].split(":")[:2]
        lb = pm.run_container(lb_image, *pm.compose_flags(lb_service), f"--network={network}",
                              f"--volume={(pm.ROOT / 'deploy' / source).resolve()}:{target}:ro",
                              "--publish=127.0.0.1::8501")
        created.append(lb)
        url = f"http://127.0.0.1:{pm.published_port(lb)}"
        seen = set()
        # both replicas found through DNS and healthy: fresh clients get both cookies (leastconn, idle)
        pm.wait_for(lambda: seen.add(served_cookie(url + "/")) or len(seen - {None}) == 2, 120,
                    f"two replicas behind HAProxy (cookies so far: {seen})", interval=0.5)
        yield SimpleNamespace(url=url, apps=apps, lb=lb)
    finally:
        for cid in created:
            pm.remove_container(cid)
        pm.podman("network", "rm", "--force", network, check=False)


SEQ_LEN_SLIDER = '[data-testid="stSidebar"] input[type=range][aria-label="Sequence length T"]'


def lb_log(cid) -> list[str]:
    """HAProxy's log lines (requests and server state changes), in order."""
    return pm.podman_lines("logs", cid)


def gfl_cookie(context):
    return next((c["value"] for c in context.cookies() if c["name"] == "GFLSRV"), None)


def open_view(page, url):
    page.goto(url, timeout=60_000)
    try:
        wait_for_app_idle(page, timeout=60_000)
    except PlaywrightTimeout:        # seen once in a whole-suite run: the first page through the proxy never settled
        page.reload(timeout=60_000)
        wait_for_app_idle(page, timeout=60_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    return page.locator(SEQ_LEN_SLIDER).get_attribute("aria-valuetext")


def test_sessions_stick_to_their_replica_and_fail_over(replicas, browser):
    views = {"A": f"{replicas.url}/gradient-flow?seq_len=120", "B": f"{replicas.url}/gradient-flow?seq_len=140"}
    contexts = {k: browser.new_context(viewport={"width": 1400, "height": 1000}) for k in views}
    pages = {k: c.new_page() for k, c in contexts.items()}
    try:
        # A's WebSocket holds a connection to its replica, so leastconn sends B to the other one
        assert open_view(pages["A"], views["A"]) == "120"
        assert open_view(pages["B"], views["B"]) == "140"
        cookies = {k: gfl_cookie(c) for k, c in contexts.items()}
        assert None not in cookies.values() and cookies["A"] != cookies["B"], cookies
        for k, page in pages.items():                          # a rerun and a reload stay where they were
            slider = page.locator(SEQ_LEN_SLIDER)
            before = slider.get_attribute("aria-valuetext")
            slider.focus()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(f"() => document.querySelector('{SEQ_LEN_SLIDER}')"
                                   f".getAttribute('aria-valuetext') !== '{before}'", timeout=30_000)
            wait_for_app_idle(page, timeout=120_000)
            open_view(page, views[k])
            assert gfl_cookie(contexts[k]) == cookies[k]

        bound = seconds_to_take_out()
        logged = len(lb_log(replicas.lb))
        killed_at = time.monotonic()
        pm.podman("kill", "--signal=KILL", replicas.apps[0])
        down = re.compile(r"Server streamlit/app\d+ is (going )?DOWN")
        taken_out = pm.wait_for(lambda: any(map(down.search, lb_log(replicas.lb)[logged:])), bound + 10,
                                "HAProxy taking the killed replica out")
        print(f"\nkilled replica taken out after {taken_out:.1f} s (at most {bound} s by deploy/haproxy.cfg)")
        assert taken_out <= bound + 2                          # + 2 s: this test polls `podman logs`

        after = {k: open_view(pages[k], views[k]) for k in views}          # the next page load
        assert after == {"A": "120", "B": "140"}                          # each view restored from its URL
        moved = {k: gfl_cookie(contexts[k]) for k in views}
        changed = [k for k in views if moved[k] != cookies[k]]
        assert len(changed) == 1, (cookies, moved)             # exactly the killed replica's session moved,
        stayed = next(k for k in views if k not in changed)
        assert moved[changed[0]] == cookies[stayed]            # to the replica that still serves the other
        assert time.monotonic() - killed_at < 120
    finally:
        for c in contexts.values():
            c.close()
