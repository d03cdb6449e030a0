"""Failure counters that belong to no account: a username nobody has, a client address.

An unknown username must lock exactly as a real one does (same count, same message, same
time), or the lock-out message tells anyone which accounts exist. A client address that
fails many sign-ins, or sends many applications, is slowed down whatever names it tries, so
one source cannot spray many accounts. Names are kept only as a hash.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.core import db
from portal.core.models import Throttle

STALE_AFTER = timedelta(days=1)


def name_key(username_key: str) -> str:
    """The throttle key of a username (stored hashed)."""
    return "name:" + hashlib.sha256(username_key.encode("utf-8", "surrogatepass")).hexdigest()


def address_key(purpose: str, address: str) -> str:
    """The throttle key of a client address for one purpose (`login`, `apply`)."""
    return f"{purpose}:{address[:64]}"


def locked_until(session: Session, key: str, now: datetime) -> datetime | None:
    """When the lock on `key` ends, if it is locked now."""
    until = session.scalar(select(Throttle.locked_until).where(Throttle.key == key))
    return until if until is not None and until > now else None


def count_failure(
    session: Session,
    key: str,
    *,
    limit: int,
    lock_for: timedelta,
    now: datetime,
    window: timedelta | None = None,
) -> bool:
    """Count one failure for `key`; at `limit` failures (within `window`, if one is given)
    lock it for `lock_for`. True when this failure locked it. Without a window the count
    only restarts after a lock, as an account's does."""
    session.execute(
        db.upsert_into(session, Throttle)
        .values(key=key, failures=0, window_started_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = session.scalar(select(Throttle).where(Throttle.key == key).with_for_update())
    assert row is not None
    ran_out = row.locked_until is not None and row.locked_until <= now
    if ran_out or (window is not None and row.window_started_at + window <= now):
        row.failures, row.window_started_at, row.locked_until = 0, now, None
    row.failures += 1
    if row.failures < limit:
        return False
    row.failures, row.locked_until = 0, now + lock_for
    # Address rows that have long stopped failing are of no more use. Name rows stay, as an
    # account's failure count does: pruning them would make unknown names behave otherwise.
    session.execute(
        delete(Throttle).where(
            ~Throttle.key.startswith("name:"),
            Throttle.window_started_at < now - STALE_AFTER,
            (Throttle.locked_until.is_(None)) | (Throttle.locked_until < now),
        )
    )
    return True


def client_address_from(peer: str | None, forwarded: str, *, trusted_proxies: int) -> str:
    """The client's address for per-address limits. With a proxy header (`forwarded`, say
    X-Forwarded-For, each proxy appending the address it saw), the chain is the header's
    addresses and then the peer; the last `trusted_proxies` of it are the portal's own
    proxies, and the address before them is the client's (entries further left are written
    by the client and prove nothing). Without one, the peer itself; a loopback peer (which
    Streamlit reports as none) is an address like any other, counted, never a free pass."""
    chain = [part.strip() for part in forwarded.split(",") if part.strip()] if forwarded else []
    chain.append(peer or "127.0.0.1")
    if forwarded:
        position = max(len(chain) - 1 - trusted_proxies, 0)
        return _plain(chain[position])[:64]
    return _plain(chain[-1])[:64]


def _plain(address: str) -> str:
    """An IPv4 address as people write it: a dual-stack server reports IPv4 clients as
    IPv4-mapped IPv6 (`::ffff:127.0.0.1`); anything that is not an address, as given."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    mapped = parsed.ipv4_mapped if isinstance(parsed, ipaddress.IPv6Address) else None
    return str(mapped or parsed)
