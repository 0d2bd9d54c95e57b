"""Hardened XML parsing for untrusted iWmo input.

lxml (libxml2) parses fast and keeps element paths; out of the box it would still read a
DTD, expand internal entities and may fetch external ones. An iWmo message never has a
document type, so any DOCTYPE or ENTITY declaration is refused before parsing, and the
parser itself runs with entity resolution, DTD loading and network access off and with
libxml2's huge-tree limits on (depth, text size). The size limit comes first of all.
"""

from __future__ import annotations

import threading

from lxml import etree

#: The largest message accepted, in bytes. A 323 of a large provider for one municipality
#: and month is a few MB; single lifecycle messages are a few KB.
MAX_BYTES = 20_000_000

_local = threading.local()


class NotWellFormed(ValueError):
    """The body is not a well-formed, acceptable XML document (HTTP 400)."""


def _parser() -> etree.XMLParser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )
        _local.parser = parser
    return parser


def parse(data: bytes, max_bytes: int = MAX_BYTES) -> etree._Element:
    """The root element of ``data``, or NotWellFormed saying why not."""
    if len(data) > max_bytes:
        raise NotWellFormed(f"message is larger than {max_bytes} bytes")
    if not data.strip():
        raise NotWellFormed("empty body")
    head = data.upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise NotWellFormed("document type declarations and entities are not allowed")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as error:
        raise NotWellFormed(f"not well-formed XML: {error}") from None
    if root is None:
        raise NotWellFormed("no root element")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:  # e.g. declared in UTF-16
        raise NotWellFormed("document type declarations and entities are not allowed")
    return root
