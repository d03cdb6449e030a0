"""The audit log and the sign-in list speak words: every recorded action has its name, an
IPv4 client is written as IPv4, a browser is named as people name it."""

from __future__ import annotations

import re

import pytest

from portal.core import audit, fmt
from portal.core.config import PROJECT_ROOT
from portal.core.models import TokenPurpose
from portal.core.throttle import client_address_from

# An action code as the services record it: `object.verb`, in a literal or a template.
RECORDED = re.compile(
    r"""(?:action=|record_(?:many_by|changes_by|by|for_user)\(\s*session,\s*\w+,\s*)f?"([a-z_]+\.[a-z_{}.]+)\""""
)
# The codes each template in the services stands for.
TEMPLATES = {
    "user.password_set_by_{link.purpose.value}": [
        f"user.password_set_by_{purpose.value}" for purpose in TokenPurpose
    ],
    "partner.{action}": ["partner.approve", "partner.suspend", "partner.reactivate"],
    "payout.mark_{outcome.value}": ["payout.mark_failed", "payout.mark_canceled"],
    "tax_form.{outcome.value}": ["tax_form.verified", "tax_form.rejected"],
    "risk.{outcome.value}": ["risk.resolved", "risk.dismissed"],
}


def _recorded_actions() -> set[str]:
    found: set[str] = set()
    for path in (PROJECT_ROOT / "portal").rglob("*.py"):
        for code in RECORDED.findall(path.read_text(encoding="utf-8")):
            found |= set(TEMPLATES.get(code, [code]))
    return found


def test_every_action_the_services_record_has_words():
    recorded = _recorded_actions()
    assert len(recorded) > 30, recorded  # the pattern still finds them
    assert sorted(recorded - set(audit.ACTION_WORDS)) == []
    assert audit.action_words("login.succeeded") == "Signed in"
    assert audit.action_words("something.new_here") == "Something new here"


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "seen"),
    [
        ("::ffff:127.0.0.1", "", 0, "127.0.0.1"),
        ("::1", "", 0, "::1"),
        ("10.0.0.2", "::ffff:203.0.113.9", 1, "203.0.113.9"),
        ("10.0.0.2", "not-an-address", 1, "not-an-address"),
    ],
)
def test_an_ipv4_client_is_written_as_ipv4(peer, forwarded, proxies, seen):
    assert client_address_from(peer, forwarded, trusted_proxies=proxies) == seen


@pytest.mark.parametrize(
    ("agent", "named"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36",
            "Chrome on Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            "Mobile Safari on iOS",
        ),
        ("curl/8.0", "curl"),
        (None, "an unknown browser"),
    ],
)
def test_a_browser_is_named_as_people_name_it(agent, named):
    assert fmt.browser(agent) == named
