"""The deployment files agree with the README's install steps (no Docker engine runs here)."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
README = (ROOT / "README.md").read_text()


def instructions():
    """Dockerfile instructions with continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_readme_commands_are_the_scripts_ci_runs():
    assert "bash scripts/run.sh" in README and "bash scripts/test.sh" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci
    run_sh = (ROOT / "scripts" / "run.sh").read_text()
    assert "setup-env.sh\" requirements.txt" in run_sh and "streamlit run app.py" in run_sh
    test_sh = (ROOT / "scripts" / "test.sh").read_text()
    assert "requirements-dev.txt" in test_sh and "apt-get install" in test_sh and "chromium" in test_sh


def test_docker_installs_the_same_pinned_requirements_as_the_readme():
    lines = instructions()
    pip = [l for l in lines if l.startswith("RUN") and "pip install" in l]
    assert len(pip) == 1 and "-r requirements.txt" in pip[0]
    assert "download.pytorch.org/whl/cpu" in pip[0]           # CPU-only torch, no CUDA download
    assert any(l == "COPY requirements.txt ." for l in lines)
    reqs = [l for l in (ROOT / "requirements.txt").read_text().splitlines() if l and not l.startswith("#")]
    assert reqs and all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][0-9A-Za-z.]*", r) for r in reqs), reqs
    assert "torch==2.13.0" in reqs
    dev = (ROOT / "requirements-dev.txt").read_text()
    assert "-r requirements.txt" in dev


def test_docker_follows_the_deployment_guide():
    lines = instructions()
    assert lines[0].startswith("FROM python:3.11-slim")
    assert any(l.startswith("USER ") and "root" not in l for l in lines)
    assert "EXPOSE 8501" in lines
    health = next(l for l in lines if l.startswith("HEALTHCHECK"))
    assert "/_stcore/health" in health and "curl" in health
    entry = next(l for l in lines if l.startswith("ENTRYPOINT"))
    assert '"app.py"' in entry and "--server.port=8501" in entry and "0.0.0.0" in entry
    assert (ROOT / ".streamlit" / "config.toml").exists()


def test_dockerignore_keeps_what_the_app_needs():
    ignored = [l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines() if l.strip()]
    assert ".venv" in ignored and ".git" in ignored
    for needed in ("app.py", "app_pages", "ui", "core", ".streamlit", "requirements.txt"):
        assert needed not in ignored
    # every page the router lists is shipped
    from ui.nav import PAGES
    for path, *_ in PAGES:
        assert not any(path.startswith(i.rstrip("/")) for i in ignored)
