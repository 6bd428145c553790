"""The per-client cap on slots: while other clients have jobs waiting, one client holds at most
ceil(limit / clients waiting) of the deployment's slots.

Rounds alone share slots out as they free, but a client whose renders are long keeps each slot it
gets for hours, so round-robin can still end with that client holding every slot and everyone
else waiting a whole render. The cap is checked when a slot is handed out (a render is never cut
short): a client at its cap is stepped over for the next client in fair order. A pure rule, so the
unit tests state it without a table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Protocol, TypeVar


class Waiting(Protocol):
    @property
    def client_id(self) -> str: ...


W = TypeVar("W", bound=Waiting)


def cap(limit: int, clients_waiting: int) -> int | None:
    """The most slots one client may hold; None when no cap applies (no limit, or fewer than two
    clients waiting: nobody else would get a slot the cap keeps free)."""
    if limit <= 0 or clients_waiting < 2:
        return None
    return math.ceil(limit / clients_waiting)


def at_cap(client_id: str, head: Iterable[Waiting], held: Mapping[str, int], limit: int) -> bool:
    """Whether `client_id` must leave the next slot to another client: `head` is the fair queue's
    head (the clients waiting; the asking client counts as one), `held` the slots per client."""
    clients = {entry.client_id for entry in head if entry.client_id} | {client_id}
    most = cap(limit, len(clients))
    return most is not None and held.get(client_id, 0) >= most


def within_cap(head: list[W], held: Mapping[str, int], limit: int) -> list[W]:
    """The head in fair order without the jobs of clients at their cap. With a slot free it is
    never empty: the clients waiting cannot all hold their cap and leave a slot over."""
    return [entry for entry in head if not at_cap(entry.client_id, head, held, limit)]
