#!/usr/bin/env bash
# Install (into ./.venv) and start Gradient Flow Lab on http://localhost:8501
set -euo pipefail
. "$(dirname "$0")/setup-env.sh" requirements.lock
exec .venv/bin/python -m streamlit run app.py --server.headless true \
    --browser.gatherUsageStats false --server.fileWatcherType none "$@"
