"""app.py (or $GFL_SCRIPT) run unchanged (runpy) in Streamlit's script thread, observed: for
benchmarks/profile_rerun.py only.

`streamlit run benchmarks/profiled_app.py` with
- GFL_PROFILE_DIR=<dir>: every script run is profiled (cProfile); writes <dir>/run-<n>.prof and appends the
  profiled wall time to <dir>/runs.txt;
- GFL_TIMELINE=<file>: appends one JSON line per run, {"start", "charts", "end"}: epoch seconds (time.time(),
  the clock a browser's performance.timeOrigin + now() follows) of the run's start, of each st.plotly_chart
  delta being enqueued for the browser, and of the run's end; and to <file>.sent one line per plotly_chart
  delta or script_finished handed to the WebSocket by the server's event loop. No profiler then.
With neither set it only runs app.py. GFL_SCRIPT=<path> runs that script instead of app.py (the floor app).
"""
import cProfile
import json
import os
import runpy
import sys
import time
from pathlib import Path

from streamlit.delta_generator import DeltaGenerator

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))          # `streamlit run` puts benchmarks/ on the path, app.py needs the root

out = os.environ.get("GFL_PROFILE_DIR")
timeline = os.environ.get("GFL_TIMELINE")
if timeline and not hasattr(DeltaGenerator, "_gfl_charts"):   # once per server: the class outlives the runs
    DeltaGenerator._gfl_charts = []
    _enqueue = DeltaGenerator._enqueue

    def _timed_enqueue(self, delta_type, *args, **kwargs):
        if delta_type == "plotly_chart":
            DeltaGenerator._gfl_charts.append(time.time())
        return _enqueue(self, delta_type, *args, **kwargs)
    DeltaGenerator._enqueue = _timed_enqueue

    from streamlit.web.server.starlette.starlette_websocket import (
        StarletteSessionClient,
    )
    _write = StarletteSessionClient.write_forward_msg

    def _timed_write(self, msg):
        """The event-loop thread handing a message to the WebSocket: chart deltas and run ends, to <file>.sent."""
        kind = msg.WhichOneof("type")
        if kind == "delta" and msg.delta.HasField("new_element"):
            kind = msg.delta.new_element.WhichOneof("type")
        if kind in ("plotly_chart", "script_finished"):
            with open(timeline + ".sent", "a") as f:
                f.write(json.dumps({"t": time.time(), "kind": kind}) + "\n")
        return _write(self, msg)
    StarletteSessionClient.write_forward_msg = _timed_write

profile = cProfile.Profile() if out else None
if timeline:
    DeltaGenerator._gfl_charts.clear()
start, wall_start = time.perf_counter(), time.time()
try:
    if profile is not None:
        profile.enable()
    runpy.run_path(os.environ.get("GFL_SCRIPT", str(ROOT / "app.py")), run_name="__main__")
finally:
    if profile is not None:
        profile.disable()
        wall = time.perf_counter() - start
        runs = Path(out) / "runs.txt"
        n = len(runs.read_text().splitlines()) if runs.exists() else 0
        profile.dump_stats(str(Path(out) / f"run-{n}.prof"))
        with runs.open("a") as f:
            f.write(f"{wall:.6f}\n")
    if timeline:
        with open(timeline, "a") as f:
            f.write(json.dumps({"start": wall_start, "charts": list(DeltaGenerator._gfl_charts),
                                "end": time.time()}) + "\n")
