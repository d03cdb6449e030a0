"""Resources for partners: the files and links the program gives its partners (those for their
group) to sell with."""

import streamlit as st

from portal.core import fmt
from portal.core.models import Role
from portal.partners import resources
from portal.ui.feedback import perform, read
from portal.ui.session import require

READY = "_resource_ready"

actor = require(Role.PARTNER)
st.title("Resources")
st.caption("Material from the program to sell with: decks, brand assets, links.")
library = read(lambda session: resources.list_resources(session, actor=actor))
if not library:
    st.info("Nothing here yet: the program will add material for you to use.")
ready = st.session_state.get(READY)


def _fetch(resource_id: int) -> None:
    """Read the file (a download counted), then offer it to save."""
    fetched = perform(
        lambda session: resources.download(session, actor=actor, resource_id=resource_id)
    )
    if fetched is not None:
        st.session_state[READY] = (resource_id, fetched[1])
        st.rerun()


for item in library:
    with st.container(border=True):
        st.markdown(f"**{fmt.inert(item.title)}**")
        if item.description:
            st.text(item.description)
        if item.url:
            st.link_button("Open the link", item.url, icon=":material/open_in_new:")
            continue
        st.caption(fmt.inert(f"{item.file_name} · {fmt.size(item.size_bytes or 0)}"))
        if ready and ready[0] == item.id:
            st.download_button(
                f"Save {item.file_name}",
                ready[1],
                file_name=item.file_name or "resource",
                mime=item.content_type,
                on_click="ignore",
                key=f"save-resource-{item.id}",
            )
        elif st.button("Download", key=f"resource-{item.id}", icon=":material/download:"):
            _fetch(item.id)
