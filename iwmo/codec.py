"""XML <-> models for iWmo 3.2, with the schema checks of ``iwmo.messages``.

``decode`` reads a heen message (301 ... 325) or a retour message (302 ... 320) into its
model; ``encode`` / ``encode_retour`` write them. The models are the schema: the decoder
walks the Struct fields in order and checks element order, presence, namespaces and every
simple value's type, length, pattern and code list, collecting every breach with its element
path (``/Bericht/Client/StartProducten/StartProduct[2]/Begindatum``). Encoding validates what
it wrote with the same walk, so caselog never emits a message that breaks the schema.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from datetime import date, time
from functools import cache
from typing import Any, Literal, Union

import msgspec
from lxml import etree

from iwmo import xml
from iwmo.messages import (
    CHECKS,
    KINDS,
    MESSAGES,
    RETOUR_OF,
    Bericht,
    Part,
    Retour,
    RetourHeader,
)

NS_BASE = "http://www.istandaarden.nl/iwmo/3_2/basisschema/schema"
_ROOT_NS = re.compile(r"^http://www\.istandaarden\.nl/iwmo/3_2/(wmo[0-9]{3})/schema$")
_NONE = type(None)


def namespace(kind: str) -> str:
    return f"http://www.istandaarden.nl/iwmo/3_2/{kind}/schema"


class NotIwmo(ValueError):
    """Well-formed XML that is not an iWmo 3.2 message caselog knows (HTTP 400)."""


class SchemaError(ValueError):
    """The message breaks the schema; ``errors`` holds (element path, what is wrong)."""

    def __init__(self, kind: str, errors: list[tuple[str, str]]) -> None:
        self.kind = kind
        self.errors = errors
        first = "; ".join(f"{p}: {m}" for p, m in errors[:3])
        super().__init__(f"{kind.upper()} breaks the schema ({len(errors)} errors): {first}")


# --- layout of a model --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    xml: str
    required: bool
    kind: Literal["leaf", "struct", "list"]
    type: Any  # leaf annotation, Struct class, or the list item's type
    item: str = ""
    item_kind: Literal["leaf", "struct", ""] = ""
    check: str = ""
    is_str: bool = True


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not _NONE]
        if len(args) == 1:
            return args[0]
    return tp


def _meta_extra(tp: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if typing.get_origin(tp) is typing.Annotated:
        for meta in typing.get_args(tp)[1:]:
            if isinstance(meta, msgspec.Meta) and meta.extra:
                extra.update(meta.extra)
    return extra


def _bare(tp: Any) -> Any:
    return typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


@cache
def layout(cls: type[msgspec.Struct]) -> tuple[_Field, ...]:
    """The elements of ``cls`` in schema order."""
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = []
    for info in msgspec.structs.fields(cls):
        tp = _strip_optional(hints[info.name])
        extra = _meta_extra(tp)
        bare = _bare(tp)
        if typing.get_origin(bare) is list:
            item_tp = typing.get_args(bare)[0]
            fields.append(
                _Field(
                    info.name,
                    info.encode_name,
                    info.required,
                    "list",
                    item_tp,
                    item=extra["item"],
                    item_kind="struct" if _is_struct(item_tp) else "leaf",
                )
            )
        elif _is_struct(bare):
            fields.append(_Field(info.name, info.encode_name, info.required, "struct", bare))
        else:
            fields.append(
                _Field(
                    info.name,
                    info.encode_name,
                    info.required,
                    "leaf",
                    tp,
                    check=extra.get("check", ""),
                    is_str=_bare(tp) is str,
                )
            )
    return tuple(fields)


# --- decoding -----------------------------------------------------------------------------
class _Walk:
    """One decode: the message namespace, the errors so far, retour codes if a retour."""

    def __init__(self, kind: str, message_ns: str, retour: bool) -> None:
        self.kind = kind
        self.message_ns = message_ns
        self.retour = retour
        self.errors: list[tuple[str, str]] = []
        self.codes: dict[str, tuple[str, ...]] = {}

    def error(self, path: str, message: str) -> None:
        self.errors.append((path, message))

    def leaf(self, elem: etree._Element, field: _Field, tp: Any, path: str) -> Any:
        if len(elem):
            self.error(path, "must hold a value, not elements")
            return None
        text = elem.text or ""
        if not field.is_str:
            text = text.strip()
        try:
            value = msgspec.convert(text, tp, strict=False)
        except msgspec.ValidationError as error:
            self.error(path, f"invalid value {text[:40]!r}: {str(error).split(' - at ')[0]}")
            return None
        if field.check:
            check, why = CHECKS[field.check]
            if not check(value):
                self.error(path, why)
                return None
        return value

    def struct(self, elem: etree._Element, cls: type[msgspec.Struct], path: str) -> Any:
        ns = NS_BASE if getattr(cls, "NAMESPACE", "message") == "base" else self.message_ns
        if elem.text and elem.text.strip():
            self.error(path, "text is not allowed here")
        for attr in elem.attrib:
            if not str(attr).startswith("{http://www.w3.org/2001/XMLSchema-instance}"):
                self.error(path, f"attribute {attr} is not allowed")
        fields = layout(cls)
        names = {f.xml: i for i, f in enumerate(fields)}
        values: dict[str, Any] = {}
        start = len(self.errors)
        pos = 0
        for child in elem:
            if not isinstance(child.tag, str):
                continue
            if child.tail and child.tail.strip():
                self.error(path, "text is not allowed here")
            qname = etree.QName(child)
            local = qname.localname
            child_path = f"{path}/{local}"
            if (
                self.retour
                and local == "RetourCodes"
                and issubclass(cls, Part)
                and "retour_codes" not in {f.name for f in fields}
            ):
                self.codes[path] = tuple((c.text or "").strip() for c in child)
                for skipped in fields[pos:]:
                    if skipped.required:
                        self.error(f"{path}/{skipped.xml}", "required element missing")
                pos = len(fields)
                continue
            index = names.get(local)
            if index is None:
                self.error(child_path, "unexpected element")
                continue
            if index < pos:
                self.error(child_path, "element out of order or repeated")
                continue
            for skipped in fields[pos:index]:
                if skipped.required:
                    self.error(f"{path}/{skipped.xml}", "required element missing")
            field = fields[index]
            pos = index + 1
            if qname.namespace != ns:
                self.error(child_path, f"element must be in namespace {ns}")
                continue
            values[field.name] = self.value(child, field, child_path, ns)
        for skipped in fields[pos:]:
            if skipped.required:
                self.error(f"{path}/{skipped.xml}", "required element missing")
        if len(self.errors) > start:
            return None
        return cls(**values)

    def value(self, child: etree._Element, field: _Field, path: str, ns: str) -> Any:
        if field.kind == "leaf":
            return self.leaf(child, field, field.type, path)
        if field.kind == "struct":
            return self.struct(child, field.type, path)
        result = []
        count = 0
        if child.text and child.text.strip():
            self.error(path, "text is not allowed here")
        for item in child:
            if not isinstance(item.tag, str):
                continue
            count += 1
            qname = etree.QName(item)
            item_path = f"{path}/{qname.localname}[{count}]"
            if qname.localname != field.item or qname.namespace != ns:
                self.error(item_path, f"unexpected element (expected {field.item})")
                continue
            if field.item_kind == "struct":
                result.append(self.struct(item, field.type, item_path))
            else:
                result.append(self.leaf(item, field, field.type, item_path))
        if count == 0:
            self.error(f"{path}/{field.item}", "at least one element required")
        return result


def _kind_of(root: etree._Element) -> str:
    qname = etree.QName(root)
    match = _ROOT_NS.match(qname.namespace or "")
    if qname.localname != "Bericht" or match is None:
        raise NotIwmo(
            "not an iWmo 3.2 message: the root must be Bericht in an "
            "http://www.istandaarden.nl/iwmo/3_2/wmoNNN/schema namespace"
        )
    kind = match.group(1)
    if kind not in MESSAGES and kind not in RETOUR_OF:
        raise NotIwmo(f"{kind.upper()} is not a message caselog exchanges")
    return kind


def _check_header(walk: _Walk, header: Any, kind: str) -> None:
    """Direction and BerichtCode: what the schema fixes per message beyond the types."""
    heen = RETOUR_OF.get(kind, kind)
    expected_code = KINDS[kind][0] if kind in KINDS else KINDS[heen][3]
    if header.bericht_code != expected_code:
        walk.error("/Bericht/Header/BerichtCode", f"must be {expected_code} for {kind.upper()}")
    gemeente, agb = ("Afzender", "Ontvanger")
    if KINDS[heen][1] != "municipality":
        gemeente, agb = agb, gemeente
    parties = {"Afzender": header.afzender, "Ontvanger": header.ontvanger}
    if len(parties[gemeente]) != 4:
        walk.error(f"/Bericht/Header/{gemeente}", "must be a 4-digit CBS gemeentecode")
    if len(parties[agb]) != 8:
        walk.error(f"/Bericht/Header/{agb}", "must be an 8-digit AGB code")


def decode(data: bytes, max_bytes: int = xml.MAX_BYTES) -> Bericht | Retour:
    """The model of one iWmo message. Raises xml.NotWellFormed, NotIwmo or SchemaError."""
    root = xml.parse(data, max_bytes)
    return decode_tree(root)


def decode_tree(root: etree._Element) -> Bericht | Retour:
    kind = _kind_of(root)
    if kind in RETOUR_OF:
        return _decode_retour(root, kind)
    cls = MESSAGES[kind]
    walk = _Walk(kind, namespace(kind), retour=False)
    message = walk.struct(root, cls, "/Bericht")
    if message is not None:
        _check_header(walk, message.header, kind)
    if walk.errors:
        raise SchemaError(kind, walk.errors)
    return message


def _decode_retour(root: etree._Element, kind: str) -> Retour:
    heen = MESSAGES[RETOUR_OF[kind]]
    body_field = layout(heen)[1]
    walk = _Walk(kind, namespace(kind), retour=True)
    children = [c for c in root if isinstance(c.tag, str)]
    header = None
    body = None
    if not children or etree.QName(children[0]).localname != "Header":
        walk.error("/Bericht/Header", "required element missing")
    else:
        header = walk.struct(children[0], RetourHeader, "/Bericht/Header")
    for extra in children[1:]:
        local = etree.QName(extra).localname
        if local == body_field.xml and body is None and len(children) == 2:
            body = walk.struct(extra, body_field.type, f"/Bericht/{local}")
        else:
            walk.error(f"/Bericht/{local}", "unexpected element")
    if header is not None:
        _check_header(walk, header, kind)
    if walk.errors or header is None:
        raise SchemaError(kind, walk.errors)
    return Retour(kind=kind, header=header, body=body, codes=walk.codes)


# --- encoding -----------------------------------------------------------------------------
def _text(value: Any) -> str:
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class _Writer:
    def __init__(self, kind: str, codes: dict[str, tuple[str, ...]] | None) -> None:
        self.ns = namespace(kind)
        self.codes = codes

    def struct(self, parent: etree._Element, obj: msgspec.Struct, path: str) -> None:
        ns = NS_BASE if getattr(obj, "NAMESPACE", "message") == "base" else self.ns
        for field in layout(type(obj)):
            value = getattr(obj, field.name)
            if value is None:
                continue
            child = etree.SubElement(parent, f"{{{ns}}}{field.xml}")
            child_path = f"{path}/{field.xml}"
            if field.kind == "leaf":
                child.text = _text(value)
            elif field.kind == "struct":
                self.struct(child, value, child_path)
            else:
                for n, item in enumerate(value, 1):
                    sub = etree.SubElement(child, f"{{{ns}}}{field.item}")
                    if field.item_kind == "struct":
                        self.struct(sub, item, f"{child_path}/{field.item}[{n}]")
                    else:
                        sub.text = _text(item)
        if (
            self.codes is not None
            and isinstance(obj, Part)
            and not isinstance(obj, RetourHeader)
            and "retour_codes" not in {f.name for f in layout(type(obj))}
        ):
            wrapper = etree.SubElement(parent, f"{{{self.ns}}}RetourCodes")
            for value in self.codes.get(path, ("0200",)):
                etree.SubElement(wrapper, f"{{{self.ns}}}RetourCode").text = value


def _root(kind: str) -> etree._Element:
    return etree.Element(
        f"{{{namespace(kind)}}}Bericht", nsmap={kind: namespace(kind), "iwmo": NS_BASE}
    )


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def encode(message: Bericht, validate: bool = True) -> bytes:
    """The XML of ``message``; with ``validate`` (the default) it is read back through the
    schema walk first, so a message breaking the schema raises SchemaError instead."""
    root = _root(message.KIND)
    _Writer(message.KIND, None).struct(root, message, "/Bericht")
    data = _serialise(root)
    if validate:
        decode_tree(etree.fromstring(data))
    return data


def encode_retour(retour: Retour, validate: bool = True) -> bytes:
    """The XML of a retour message; every part of the body carries its codes (0200 when
    ``retour.codes`` names none for it)."""
    root = _root(retour.kind)
    writer = _Writer(retour.kind, retour.codes)
    header = etree.SubElement(root, f"{{{writer.ns}}}Header")
    writer.struct(header, retour.header, "/Bericht/Header")
    if retour.body is not None:
        body_field = layout(MESSAGES[RETOUR_OF[retour.kind]])[1]
        body = etree.SubElement(root, f"{{{writer.ns}}}{body_field.xml}")
        writer.struct(body, retour.body, f"/Bericht/{body_field.xml}")
    data = _serialise(root)
    if validate:
        decode_tree(etree.fromstring(data))
    return data
