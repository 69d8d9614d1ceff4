"""What the tests and the benchmarks share: a `streamlit run` server on a free port (server), the protocol-level
Streamlit client (streamlit_client), headless Chromium (browser) and repeated timings (timing).

Not shipped in the image (.dockerignore); imports nothing of the app's own, so `core`'s thread policy stays the
caller's choice.
"""
