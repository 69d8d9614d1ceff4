# The load balancer of deploy/compose.yaml built from Debian with Debian's haproxy (2.6 in bookworm), for
# where the official haproxy image cannot be pulled. Same config path and port as the official image,
# so compose.yaml's volume and ports work with either:
#     docker build -f deploy/haproxy.Dockerfile -t localhost/gfl-haproxy deploy
#     (then image: localhost/gfl-haproxy for the lb service in compose.yaml)
# Behind a mirror: --build-arg BASE_IMAGE=mirror.example.com/library/debian:bookworm-slim (any Debian
# bookworm with apt sources; the tests use their stand-in base). Pin a digest of your own with
# `docker buildx imagetools inspect debian:bookworm-slim`.
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /usr/local/etc/haproxy
COPY haproxy.cfg /usr/local/etc/haproxy/haproxy.cfg
# the package's unprivileged user; the config binds :8501, so no capability is needed
USER haproxy
EXPOSE 8501
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
