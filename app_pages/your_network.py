"""Your network: a practitioner's own RNN, LSTM or GRU, and where its gradient dies, layer by layer."""
import hashlib

import numpy as np
import streamlit as st

from core.errors import ConfigError
from core.inspect import inspect
from core.watch import read_watch
from core.weights import MAX_FILE_MB, build_module, find_groups, read_inputs, read_tensors
from serve.admission import ADMISSION
from ui import inspect_figs
from ui.heavy import wait_message
from ui.inspect_controls import (
    EXAMPLE,
    EXAMPLE_INPUTS,
    EXAMPLE_RUN,
    INPUTS,
    RUNS,
    SOURCES,
    STATE,
    UI_MAX_BATCH,
    UI_MAX_SEQ_LEN,
    VIEWS,
)
from ui.live_chart import chart
from ui.url import inert, show_warnings

key = STATE.key
RESULT = "network__result"           # this session's last result: (its key, InspectResult)


def sidebar():
    sb = st.sidebar
    sb.header("Network")
    sb.radio("Weights", list(SOURCES), format_func=SOURCES.get, key=key("source"),
             help=f"A .safetensors file or a PyTorch state dict (torch.save), at most {MAX_FILE_MB} MB. It is read in "
                  "memory, never written to disk, never unpickled, and forgotten when your session ends.")
    sb.radio("Vanilla RNN nonlinearity", ["tanh", "relu"], key=key("nonlinearity"), horizontal=True,
             help="A vanilla RNN's weights do not say which f it uses; gated cells ignore this.")
    sb.header("Inputs and loss")
    sb.radio("Inputs", list(INPUTS), format_func=INPUTS.get, key=key("inputs"),
             help="A .npy batch is read with allow_pickle=False, in the module's layout (T, B, D).")
    sb.slider("Sequence length T", 1, UI_MAX_SEQ_LEN, key=key("seq_len"), help="Of the gaussian inputs.")
    sb.slider("Batch", 1, UI_MAX_BATCH, key=key("batch"), help="Sequences of the gaussian inputs.")
    sb.slider("Input scale", 0.0, 10.0, step=0.1, key=key("input_scale"),
              help="Standard deviation of the gaussian inputs.")
    sb.number_input("Seed", 0, 9999, key=key("seed"), help="Draws the readout and the gaussian inputs.")
    sb.radio("Loss on", ["last", "all"], key=key("loss_on"), horizontal=True,
             format_func={"last": "last step", "all": "every step"}.get,
             help="The loss is a fixed random unit readout of the top layer's output (both directions), on the last "
                  "step only (every bit of gradient at step t travelled T − 1 − t steps) or summed over every step.")
    return STATE.end()


def weights_bytes(source):
    """(name, bytes) of the network to inspect, or None while nothing is uploaded."""
    if source == "example":
        return EXAMPLE.name, EXAMPLE.read_bytes()
    uploaded = st.file_uploader(f"Weights file (.safetensors, .pt, .pth, .bin; at most {MAX_FILE_MB} MB)",
                                type=["safetensors", "pt", "pth", "bin"], key="network_upload",
                                help="Read in memory with safetensors or torch.load(weights_only=True); never written "
                                     "to disk, never unpickled otherwise.")
    if uploaded is None:
        st.info("Upload the weights of a torch.nn.RNN, LSTM or GRU, or of a whole model that contains one. An "
                "uploaded file cannot go into a link: the address keeps every setting but the file.",
                icon=":material/upload_file:")
        return None
    return uploaded.name, uploaded.getvalue()


def input_batch(choice):
    """The input batch, None for gaussian inputs; a bad file stops the page with one line."""
    if choice == "gaussian":
        return None
    if choice == "adding":
        return np.load(EXAMPLE_INPUTS, allow_pickle=False)
    uploaded = st.file_uploader("Input batch (.npy, shaped (T, B, D))", type=["npy"], key="network_inputs",
                                help="np.save of an array in the module's layout; read with allow_pickle=False.")
    if uploaded is None:
        st.info("Upload an input batch, or choose gaussian inputs.", icon=":material/upload_file:")
        st.stop()
    return read_inputs(uploaded.getvalue())


def pick_group(groups):
    if len(groups) == 1:
        return groups[0]
    names = [g.prefix.rstrip(".") for g in groups]
    chosen = st.selectbox("Recurrent group", names, key="network_group",
                          help="The file holds several recurrent modules; pick one by its prefix.")
    return groups[names.index(chosen)]


def compute(job_key, module, inputs, values):
    """inspect() through the process's admission point; kept in this session only (never shared)."""
    kept = st.session_state.get(RESULT)
    if kept is not None and kept[0] == job_key:
        return kept[1]
    status = st.empty()
    options = {k: values[k] for k in ("loss_on", "seed")}
    if inputs is None:
        options.update({k: values[k] for k in ("seq_len", "batch", "input_scale")})
    with ADMISSION.slot(on_wait=lambda ahead, running: status.info(wait_message(ahead, running))):
        res = inspect(module, inputs, **options)
    status.empty()
    st.session_state[RESULT] = (job_key, res)
    return res


def show(res):
    st.markdown(f"**{inspect_figs.architecture_text(res)}**; T = {res.config['seq_len']}, batch "
                f"{res.config['batch']}, {res.config['inputs']} inputs.")
    chart(inspect_figs.curves_figure(res), key="network_curves")
    chart(inspect_figs.heatmap_figure(res), key="network_heatmap")
    st.subheader("Diagnosis")
    st.dataframe(inspect_figs.diagnosis_rows(res), hide_index=True, width="stretch")
    st.subheader("Per layer and direction")
    st.dataframe(inspect_figs.layer_rows(res), hide_index=True, width="stretch")
    st.caption(f"Regime: {res.regime_rule}, fitted against the distance T − 1 − t from the last step. λ1: the "
               "largest singular value of W_hh (the candidate block for an LSTM or GRU).")
    if res.architecture.kind == "lstm":
        chart(inspect_figs.curves_figure(res, cell_state=True), key="network_cell_curves")
    chart(inspect_figs.lyapunov_figure(res), key="network_lyapunov")
    st.caption("Lyapunov exponents of the forward dynamics of the whole stack (every layer's forward state, along "
               "the first sequence; a reverse direction's output enters the layer above as an input).")


def inspect_view(values):
    picked = weights_bytes(values["source"])
    if picked is None:
        return
    name, data = picked
    try:
        groups = find_groups(read_tensors(data), values["nonlinearity"])
        group = pick_group(groups)
        module = build_module(group)
        inputs = input_batch(values["inputs"])
        job = (hashlib.sha256(data).hexdigest(), group.prefix, values["nonlinearity"],
               None if inputs is None else hashlib.sha256(np.ascontiguousarray(inputs).tobytes()).hexdigest()
               + str(inputs.shape), tuple(sorted(values.items())))
        result = compute(job, module, inputs, values)
    except ConfigError as err:
        st.error(f"Cannot inspect {inert(name)}: {err}", icon=":material/block:")
    else:
        show(result)


def replay_view(run):
    """A core.watch file as heatmaps of ‖∂loss/∂h‖ by distance over training, one per layer and direction."""
    st.radio("Watch file", list(RUNS), format_func=RUNS.get, key=key("run"), horizontal=True,
             help="Written by core.watch(module, every=50, path='run.gfl') in your own training loop (README: "
                  "Your own network).")
    if run == "example":
        name, data = EXAMPLE_RUN.name, EXAMPLE_RUN.read_bytes()
    else:
        uploaded = st.file_uploader(f"Watch file (.gfl, at most {MAX_FILE_MB} MB)", type=["gfl", "jsonl"],
                                    key="network_watch",
                                    help="The JSON-lines file core.watch writes (format gfl-watch, version 1: README, "
                                         "Your own network).")
        if uploaded is None:
            st.info("Upload a file written by core.watch.", icon=":material/upload_file:")
            return
        name, data = uploaded.name, uploaded.getvalue()
    try:
        header, records = read_watch(data)
        layers = [(lf["layer"], lf["direction"]) for lf in records[0]["layers"]] if records else []
    except (ConfigError, KeyError, TypeError, IndexError) as err:
        st.error(f"Cannot replay {inert(name)}: {err if isinstance(err, ConfigError) else 'not a gfl-watch file'}",
                 icon=":material/block:")
        return
    if not records:
        st.info(f"{inert(name)} has no recorded steps yet.")
        return
    st.markdown(f"**{len(records)} recorded steps** (every {header.get('every')} steps), steps "
                f"{records[0]['step']} to {records[-1]['step']}.")
    chart(inspect_figs.watch_scalars_figure(records), key="network_watch_scalars")
    for layer, direction in layers:
        chart(inspect_figs.watch_heatmap_figure(records, layer, direction), key=f"network_watch_{layer}_{direction}")


INTRO = ("Bring a recurrent network: its weights (and, if you like, its inputs). The chart shows ‖∂L/∂h_t‖, the norm "
         "of the total derivative of the loss with respect to the hidden state at step t (through every path: "
         "the recurrence and the layer above), per sequence, averaged over the batch, for every layer and "
         "direction. For an LSTM, the cell state's too.")


def your_network_page() -> None:
    warnings = STATE.begin()
    values = sidebar()
    st.title("Your network")
    st.caption(INTRO)
    show_warnings(warnings)
    st.radio("View", list(VIEWS), format_func=VIEWS.get, key=key("view"), horizontal=True,
             label_visibility="collapsed",
             help="Inspect a network's weights now, or replay the gradients core.watch recorded while it trained.")
    if values["view"] == "inspect":
        inspect_view(values)
    else:
        replay_view(values["run"])


if __name__ == "__main__":             # run by Streamlit as the page (ui/nav.py)
    your_network_page()
