"""Read model ``case_doc``: the case document of ``GET /v1/cases/{id}`` as a stored row.

One row per case (migrations/0008_case_doc.sql): ``case_id``, ``tenant`` and ``provider``
(who may read it), ``version`` (the case version the row holds) and ``doc``, the JSON of
:class:`projections.case_view.CaseOut` exactly as the live read computes it
(``case_document(case)``, without ``on``). The runner replaces the row whenever a batch
touches the case, in the same transaction as the other read models, so the row is a pure
function of the case's events like every projection.
"""

from __future__ import annotations

from typing import Any

import msgspec

from domain.case import Case
from domain.catalogue import Catalogue
from projections.case_view import CaseOut, case_document

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(CaseOut).decode


def case_row(case_id: str, case: Case) -> dict[str, Any]:
    """The stored row of a case at its version."""
    doc = case_document(case)
    assert doc is not None  # without ``on`` there is always a document
    s = case.state
    return {
        "case_id": case_id,
        "tenant": s.tenant,
        "provider": s.provider,
        "version": case.version,
        "doc": _encode(doc).decode(),
    }


def decode_doc(doc: str | bytes) -> CaseOut:
    return _decode(doc)


class CaseDocProjection:
    """The case document of each case (registered with the runner, ``projections.runner``)."""

    name = "case_doc"
    tables = ("case_doc",)

    def rows(
        self, case_id: str, case: Case, cat: Catalogue, months: Any
    ) -> dict[str, list[dict[str, Any]]]:
        return {"case_doc": [case_row(case_id, case)]}
