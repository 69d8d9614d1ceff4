"""The latency floor for benchmarks/bench_latency.py: the smallest Streamlit app that does what the Gradient
flow page's main interaction does (a select_slider drives a Plotly line chart of 100 points on a log y axis).

Run alone: .venv/bin/python -m streamlit run benchmarks/floor_app.py
"""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

# 30 log-spaced options, 0.1 … 8.6, with 1.0 among them (the default), like the app's weight-scale slider.
SCALES = [float(f"{10 ** (i / 15):.3g}") for i in range(-15, 15)]

scale = st.select_slider("Floor scale", SCALES, value=1.0)
k = np.arange(100)
y = np.exp(np.log(scale) * k / 10) * (1 + 0.1 * np.sin(k / 5))   # positive; changes with every option
fig = go.Figure(go.Scatter(x=k, y=y, mode="lines"))
fig.update_yaxes(type="log")
st.plotly_chart(fig)
