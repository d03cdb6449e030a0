"""One way to run a user action, for the pages, their dialogs, the API and the command line.

An action is one unit of work (one transaction; `reads_only` for a page's reads, as
`db.unit_of_work` says), run again in a fresh one while the database is busy — a lost race
for a lock is a wait for the user, not an error — and its refusals raised as `PortalError`
for the caller to show (a page under the field, the API as a problem, the command line as a
message). The acting user is read once per action (`access.one_action`, opened by the page
run or the API request).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

# The unit of work's type, for the pages' own work functions (pages import nothing of
# SQLAlchemy's).
from sqlalchemy.orm import Session as Session

from portal.core.db import BUSY_ATTEMPTS, is_busy, unit_of_work

T = TypeVar("T")


def run(
    work: Callable[[Session], T], *, engine: Engine | None = None, reads_only: bool = False
) -> T:
    """`work` in a unit of work, run again in a fresh one (after a short, jittered backoff)
    while the database is busy; its answer."""
    attempt = 1
    while True:
        try:
            with unit_of_work(engine, reads_only=reads_only) as session:
                return work(session)
        except DBAPIError as error:
            if attempt == BUSY_ATTEMPTS or not is_busy(error):
                raise
        time.sleep(0.05 * 2**attempt * (1 + random.random()))  # noqa: S311 - jitter, not a secret
        attempt += 1
