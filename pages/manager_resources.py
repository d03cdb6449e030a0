"""The resource library for managers: add files (PDF, PNG, JPEG) and links for every partner or
some groups' partners, see how often each was downloaded, remove one."""

import streamlit as st

from portal.core import fmt
from portal.core.actions import Session
from portal.core.config import get_settings
from portal.core.models import Role
from portal.partners import groups, resources
from portal.ui import audience as audience_picker
from portal.ui import confirm, tables
from portal.ui.feedback import FormErrors, read
from portal.ui.session import require

NOTICE = "resources_notice"

actor = require(Role.MANAGER)
st.title("Resources")
st.caption(
    "Brand assets, pitch decks and links partners sell with. A file is kept in the portal "
    f"(PDF, PNG or JPEG, at most {get_settings().resource_max_mb:g} MB); each download counts."
)
notice = st.session_state.pop(NOTICE, None)
if notice:
    st.success(fmt.inert(notice), icon=":material/check_circle:")
confirm.show_confirmed()

found_groups, library = read(
    lambda session: (
        groups.list_groups(session, actor=actor),
        resources.list_resources(session, actor=actor),
    )
)
form = FormErrors("resource")
with st.expander("Add a resource", icon=":material/add:", expanded=form.pending), st.form(form.key):
    title = st.text_input("Title *", max_chars=resources.MAX_TITLE)
    form.under("title")
    description = st.text_area("Description", max_chars=1000)
    form.under("description")
    upload = st.file_uploader("File (PDF, PNG or JPEG)", type=["pdf", "png", "jpg", "jpeg"])
    form.under("file")
    url = st.text_input("…or a link (https://…)", max_chars=500)
    form.under("url")
    audience = audience_picker.picker(found_groups)
    form.under("audience")
    form.others({"title", "description", "file", "url", "audience"})
    if st.form_submit_button("Add", type="primary"):
        added = form.submit(
            lambda session: resources.add_resource(
                session,
                actor=actor,
                title=title,
                description=description,
                audience=audience,
                url=url.strip() or None,
                file_name=upload.name if upload is not None else None,
                content=upload.getvalue() if upload is not None else None,
            )
        )
        if added is not None:
            st.session_state[NOTICE] = f"Added “{added.title}”."
            st.rerun()

if not library:
    st.caption("No resource yet.")
else:
    tables.show(
        [
            {
                "Title": item.title,
                "For": ", ".join(item.audience) or "every partner",
                "What": item.url or f"{item.file_name} ({fmt.size(item.size_bytes or 0)})",
                "Downloads": "—" if item.url else str(item.downloads),  # a link is not counted
                "Added": fmt.day(item.created_at),
            }
            for item in library
        ],
        key="resources",
        compact=["Title", "For", "Downloads"],
    )
    by_id = {item.id: item for item in library}
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Resource", list(by_id), format_func=lambda i: by_id[i].title)
    if right.button("Remove…"):
        confirm.ask("resource-remove", by_id[chosen])


def _remove(session: Session, item: resources.ResourceView) -> str:
    resources.remove_resource(session, actor=actor, resource_id=item.id)
    return f"Removed “{item.title}”."


confirm.dialog(
    "resource-remove",
    title="Remove this resource?",
    lines=lambda item: [f"{item.title}: partners will no longer see it."],
    confirm_label="Remove",
    act=_remove,
)
