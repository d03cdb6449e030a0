"""A real SMTP server for tests: aiosmtpd on a free loopback port, keeping what it receives."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mailbox:
    """What the server accepted, one parsed message per recipient; addresses it refuses for
    good (550) are listed in `refuse`."""

    port: int = 0
    received: list[tuple[str, EmailMessage]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = cast(EmailMessage, message_from_bytes(envelope.content, policy=policy.default))
        with self.lock:
            for recipient in envelope.rcpt_tos:
                self.received.append((recipient, message))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [message for recipient, message in self.received if recipient == address]

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(message["Message-ID"]) for _, message in self.received]


@contextmanager
def smtp_server(mailbox: Mailbox | None = None, port: int | None = None) -> Iterator[Mailbox]:
    """Run the server until the block ends."""
    box = mailbox or Mailbox()
    box.port = port or free_port()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return cast(str, cast(EmailMessage, part).get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return cast(str, cast(EmailMessage, part).get_content())


def link_token(row: Any) -> str:
    """The token of the password link in an outbox message as its recipient reads it (the
    stored message shows `[link hidden]`; the link is put in when the message is sent)."""
    from portal.messaging import mail

    body = text_of(mail.as_email(row))
    link = re.search(r"https?://\S+/set_password\?\S+", body)
    assert link is not None, body
    return parse_qs(urlsplit(link.group(0)).query)["token"][0]
