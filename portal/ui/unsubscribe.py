"""The one-click unsubscribe link of an e-mail (RFC 8058), answered without signing in.

A GET shows a page with one button: mail scanners and link previews fetch links, and must
not unsubscribe anyone. A POST (the button, or a mail client's one-click request with
`List-Unsubscribe=One-Click`) turns the topic off.
"""

from __future__ import annotations

import re
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse

from portal.core import actions
from portal.core.config import get_settings
from portal.core.errors import PortalError
from portal.messaging import mail

ROUTE = "/mail/unsubscribe"
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title></head>
<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;">
<h1 style="font-size:1.4rem;">{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=escape(title), body=body), status_code=status)


def _link(request: Request) -> tuple[int, str, str] | None:
    params = request.query_params
    user, topic, signature = params.get("u", ""), params.get("topic", ""), params.get("sig", "")
    # ASCII digits only: "²" passes str.isdigit() and then fails int().
    if not re.fullmatch(r"[0-9]{1,9}", user) or not topic or not signature:
        return None
    if not (topic.isascii() and signature.isascii()):
        return None
    return int(user), topic, signature


def endpoint(request: Request) -> HTMLResponse:
    link = _link(request)
    if link is None:
        return _page("Link not valid", "<p>This unsubscribe link is not valid.</p>", 400)
    user_id, topic, signature = link
    program = escape(get_settings().program_name)
    if request.method == "GET":
        words = mail.TOPICS.get(topic, ("", "these e-mails"))[1]
        return _page(
            "Unsubscribe",
            f"<p>Stop receiving {escape(words)} from {program}?</p>"
            '<form method="post"><button type="submit" style="font-size:1rem;padding:.5rem 1rem;">'
            "Unsubscribe</button></form>",
        )
    try:
        words = actions.run(
            lambda session: mail.unsubscribe(
                session, user_id=user_id, topic=topic, signature=signature
            )
        )
    except PortalError as refused:
        return _page("Link not valid", f"<p>{escape(str(refused))}</p>", 400)
    return _page(
        "Unsubscribed",
        f"<p>You will no longer receive {escape(words)} from {program}. You can switch them "
        "on again on your Profile page.</p>",
    )
