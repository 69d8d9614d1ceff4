"""Deployment files: Dockerfile helpers, Docker Compose + HAProxy, Kubernetes manifests."""
