# Gradient Flow Lab, following Streamlit's Docker deployment guide: slim Python, CPU-only torch,
# a non-root user, the app's .streamlit/config.toml, port 8501 and a health check.
#
# Base image pinned by digest, so a rebuild gets the same OS and Python until someone moves the pin
# on purpose. The digest is that of the multi-arch index of python:3.11-slim (Python 3.11.16, Debian
# trixie) as published on 2026-08-16. To move it:
#     docker buildx imagetools inspect python:3.11-slim     # the "Digest:" line
# and replace the sha256 below (then rebuild and run the tests). Written with its registry and
# namespace, since engines other than Docker (podman) refuse short names. Behind a registry mirror,
# or with an image of your own that has python, pip and Debian's useradd on PATH:
#     docker build --build-arg BASE_IMAGE=mirror.example.com/library/python:3.11-slim@sha256:... .
ARG BASE_IMAGE=docker.io/library/python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7
FROM ${BASE_IMAGE}

# Thread policy: the app sets torch's intra-op threads from GFL_TORCH_THREADS at startup; one thread
# per process, and no OpenMP/MKL pools either (a server runs users side by side, not one op split).
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GFL_TORCH_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

# The runtime user: numeric uid/gid, so Kubernetes' runAsNonRoot can check it.
RUN groupadd --gid 10001 app && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin app
WORKDIR /app

# requirements.lock pins every package (bash deploy/relock.sh regenerates it). One index per package:
# 1. torch alone from PyTorch's CPU-only index, at the lock's version (2.13.0+cpu: that local
#    version exists only there, so no CUDA build can slip in), with --no-deps so that index serves
#    torch and nothing else;
# 2. everything else from PyPI with --no-deps: the lock is complete, torch is already satisfied, and
#    nothing unpinned can be pulled in. `pip check` proves the set is consistent.
# (A single `pip install --extra-index-url ...` would let either index serve any package.)
# Behind a mirror or offline, both indexes are build arguments: TORCH_INDEX_URL for torch, pip's own
# PIP_INDEX_URL / PIP_TRUSTED_HOST for the rest. They are ARGs, so they live in the environment of
# this one RUN and are not written into the image's configuration or any file in it.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
COPY requirements.lock ./
# Then, in the same layer so that nothing deleted is kept below: what the app never runs. Test
# suites ("tests" folders), torch's C++ headers, CMake files and test binaries (torch/bin but
# torch_shm_manager, which torch.multiprocessing may start), pyarrow's headers and its Flight RPC
# and S3 libraries (pyarrow.flight and pyarrow.fs.S3FileSystem, which nothing here imports), and
# networkx (only torch's compiler uses it: `pip check` runs before). sympy stays: building an
# optimizer imports torch._dynamo, which imports sympy.
RUN pip install --no-deps --index-url "$TORCH_INDEX_URL" --constraint requirements.lock torch \
    && pip install --no-deps -r requirements.lock \
    && pip check \
    && pip uninstall --yes --quiet networkx \
    && site=$(python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") \
    && find "$site" -type d -name tests -prune -exec rm -rf {} + \
    && rm -rf "$site/torch/test" "$site/torch/include" "$site/torch/share" "$site/pyarrow/include" \
              "$site"/pyarrow/*flight* "$site"/pyarrow/*s3* "$site"/pyarrow/_pyarrow_cpp_tests* \
    && find "$site/torch/bin" -mindepth 1 ! -name torch_shm_manager -exec rm -rf {} +

# The code belongs to root and is only readable by the app user, who cannot change /app (bytecode is
# compiled here, at build time, since the app cannot write __pycache__ at run time).
COPY . .
RUN python -m compileall -q /app && chmod -R u=rwX,go=rX /app
USER 10001:10001

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() != b'ok')"]

ENTRYPOINT ["streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0", \
            "--server.headless=true", "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"]
