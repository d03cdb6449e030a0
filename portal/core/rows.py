"""Several edits from one table, saved in one transaction: each refused row is undone alone
(a savepoint) and explained, the others are kept."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.orm import Session

from portal.core.errors import PortalError

Item = TypeVar("Item")


@dataclass(frozen=True)
class RowOutcome:
    key: int
    saved: bool
    message: str


def apply_each(
    session: Session,
    items: Iterable[Item],
    *,
    key: Callable[[Item], int],
    apply: Callable[[Item], str],
) -> list[RowOutcome]:
    """Run `apply` on each item in its own savepoint; collect what happened to each."""
    outcomes = []
    for item in items:
        try:
            with session.begin_nested():
                message = apply(item)
        except PortalError as error:
            outcomes.append(RowOutcome(key(item), False, str(error)))
        else:
            outcomes.append(RowOutcome(key(item), True, message))
    return outcomes
