"""Gradient Flow Lab: the router. Page config, navigation over the pages of ui/nav.py, shared chrome.

The page scripts are in app_pages/ rather than pages/: Streamlit treats a pages/ folder beside the
entry point as a legacy multipage app, which breaks direct links to the pages' url paths.
"""
import sys

import streamlit as st

import core
from ui import a11y, lesson_return, present, server_log
from ui.heavy import pace_runs, remember_person
from ui.lesson_steps import STEPS
from ui.nav import HOME, ICON, LESSON, ROOT, available_pages

# Torch's thread policy, once for the whole server (core/runtime.py: one thread per computation).
core.configure_threads()
server_log.install()            # a malformed frame from a client: one short log line, rate-limited
# The script thread hands each chart to the server's event-loop thread; a 0.5 ms GIL switch interval
# (default 5 ms) lets those messages leave sooner (slider-to-chart median 256 -> 239 ms, 31 steps each).
sys.setswitchinterval(0.0005)
# The tab icon is a file served by this server: a classroom behind a firewall, or offline, gets it too
# (a :material/…: icon would be fetched from fonts.gstatic.com).
st.set_page_config(page_title="Gradient Flow Lab", page_icon=str(ICON), layout="wide")
pace_runs()                     # at most ~5 page runs a second per person, after a burst of 20 (ui/heavy.py)

# Each page is a script that defines its page function and calls it (ui/nav.py); Streamlit's pages are given
# as files so that a page's identity is its script (AppTest.switch_page names pages by their files).
pages = [st.Page(str(ROOT / page.script), title=page.title, icon=page.icon, url_path=page.url_path,
                 default=page is HOME) for page in available_pages()]
navigation = st.navigation(pages)
on_lesson = navigation.url_path == LESSON.url_path
# The lesson has no controls in the sidebar: it opens collapsed, so the chart and the talking point get the width.
st.set_page_config(initial_sidebar_state="collapsed" if on_lesson else "auto")
present.begin()                 # presentation mode (the toggle goes under the page's own controls)
a11y.styles()                   # caption contrast, focus ring (ui/a11y.py)
lesson_return.begin(on_lesson, len(STEPS))      # "Back to the lesson, step n" on a page a lesson step opened
navigation.run()
present.toggle()
if present.presenting() and st.query_params.get(present.PARAM) != "1":
    st.query_params[present.PARAM] = "1"         # pages without controls keep it in their URL too
elif not present.presenting() and present.PARAM in st.query_params:
    del st.query_params[present.PARAM]
st.sidebar.caption("Gradient Flow Lab · every control is in the URL: copy the address to share a view.")
with st.sidebar:
    remember_person()           # the fair share between persons keys on it (ui/heavy.py)
a11y.name_charts()              # last on the page
