"""On a phone, the page chosen from the sidebar menu should be what the phone shows.

Streamlit leaves its sidebar open over the page just chosen on a narrow screen (opening it
again as the new page draws: streamlit/streamlit#12065, since 1.47.1), so the menu covers the
page the user asked for. Until that is fixed upstream, the browser closes it: after a tap on
a page link in the sidebar of a narrow window, until the new page has had time to draw or the
user taps or types again, an open sidebar is closed with its own Collapse button, as the user
would. Our own constant script: no user text in it.
"""

from __future__ import annotations

import streamlit as st

# Streamlit's breakpoint for its phone layout (theme breakpoint "md").
NARROW = "(max-width: 768px)"
# Long enough for a slow page run (a busy server); the next tap or key ends it sooner.
WATCH_MS = 15_000

_SCRIPT = f"""
<script>
(() => {{
  if (window.__portalSidebarWatch) return;
  window.__portalSidebarWatch = true;
  const sidebar = () => document.querySelector('[data-testid="stSidebar"]');
  let inputs = 0;  // the user's own taps and keys: one ends the watch (they may open it)
  for (const type of ['pointerdown', 'keydown']) {{
    document.addEventListener(type, () => {{ inputs += 1; }}, true);
  }}
  document.addEventListener('click', (event) => {{
    const link = event.target.closest && event.target.closest('a');
    const menu = sidebar();
    if (!link || !menu || !menu.contains(link) || !window.matchMedia('{NARROW}').matches) {{
      return;
    }}
    const until = Date.now() + {WATCH_MS};
    const seen = inputs;
    const closeIfOpen = () => {{
      if (inputs !== seen) return;
      const open = document.querySelector('[data-testid="stSidebar"][data-collapsed="false"]');
      open?.querySelector('[data-testid="stSidebarCollapseButton"] button')?.click();
      if (Date.now() < until) setTimeout(closeIfOpen, 100);
    }};
    setTimeout(closeIfOpen, 100);
  }}, true);
}})();
</script>
"""


def close_sidebar_after_navigation() -> None:
    """Install the watch once per browser page (drawing the same element again does not
    run it again)."""
    st.html(_SCRIPT, unsafe_allow_javascript=True)
