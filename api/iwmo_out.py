"""Outbound iWmo: the outbox feed and the monthly declaration (WMO323) per provider."""

from __future__ import annotations

from api.catalogue import CATALOGUE
from api.declarations import DECLARATIONS

#: Every route of the outbound side, registered in ``api/app.py`` with one line.
IWMO_OUTBOUND = [*CATALOGUE, *DECLARATIONS]
