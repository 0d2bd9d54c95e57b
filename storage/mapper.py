"""A msgspec mapper for eventsourcing 9.5: typed encode/decode of event payloads.

The library's JSON mapper decodes about 12x slower here (shared/PERFORMANCE-NOTES.md). For
each event class we build, once, a msgspec Struct from the dataclass annotations and decode
straight into it. Upcasting keeps working: a payload stored with an older ``class_version``
is decoded untyped, passed through ``upcast_vN_vN+1`` in turn and then converted.
"""

from __future__ import annotations

import dataclasses
import typing
from functools import cache
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
    find_id_convertor,
)
from eventsourcing.utils import get_topic, resolve_topic

_SKIP = frozenset({"originator_id", "originator_version"})
_encoder = msgspec.json.Encoder(decimal_format="string")


class NoTranscoder(Transcoder):
    """The mapper encodes itself; this only satisfies the Mapper constructor."""

    def encode(self, obj: Any) -> bytes:
        return _encoder.encode(obj)

    def decode(self, data: bytes) -> Any:
        return msgspec.json.decode(data)


class _Wire:
    """Per event class: its field names, payload Struct and decoder."""

    def __init__(self, cls: type) -> None:
        hints = typing.get_type_hints(cls)
        fields = [fl for fl in dataclasses.fields(cls) if fl.name not in _SKIP]
        self.names = tuple(fl.name for fl in fields)
        spec: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        for fl in fields:
            if fl.default is not dataclasses.MISSING:
                spec.append((fl.name, hints[fl.name], fl.default))
            else:
                spec.append((fl.name, hints[fl.name]))
        self.class_version: int = getattr(cls, "class_version", 1)
        if self.class_version > 1:
            spec.append(("class_version", int, 1))
        self.struct = msgspec.defstruct(f"{cls.__qualname__}Payload", spec, kw_only=True)
        self.decoder = msgspec.json.Decoder(self.struct)


@cache
def _wire(cls: type) -> _Wire:
    return _Wire(cls)


@cache
def _resolve(topic: str) -> type:
    cls: type = resolve_topic(topic)
    return cls


@cache
def _topic(cls: type) -> str:
    return get_topic(cls)


class MsgspecMapper(Mapper[UUID]):
    def __init__(
        self,
        transcoder: Transcoder | None = None,
        compressor: Any = None,
        cipher: Any = None,
    ) -> None:
        super().__init__(transcoder or NoTranscoder(), compressor=compressor, cipher=cipher)

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        cls: type = type(domain_event)
        wire = _wire(cls)
        d = domain_event.__dict__
        payload = {name: d[name] for name in wire.names}
        if wire.class_version > 1:
            payload["class_version"] = wire.class_version
        state = _encoder.encode(payload)
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return StoredEvent(
            originator_id=d["originator_id"],
            originator_version=d["originator_version"],
            topic=_topic(cls),
            state=state,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls = _resolve(stored_event.topic)
        wire = _wire(cls)
        data = stored_event.state
        try:
            if self.cipher:
                data = self.cipher.decrypt(data)
            if self.compressor:
                data = self.compressor.decompress(data)
            payload = self._decode(cls, wire, data)
        except (msgspec.DecodeError, msgspec.ValidationError, KeyError, TypeError) as e:
            msg = (
                f"Failed to deserialise stored event {stored_event.topic} "
                f"{stored_event.originator_id} v{stored_event.originator_version}: {e}"
            )
            raise MapperDeserialisationError(msg) from e
        state = {name: getattr(payload, name) for name in wire.names}
        id_type: type = type(stored_event.originator_id)
        convert = find_id_convertor(cls, id_type)
        state["originator_id"] = convert(stored_event.originator_id)
        state["originator_version"] = stored_event.originator_version
        event: Any = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event

    @staticmethod
    def _decode(cls: type, wire: _Wire, data: bytes) -> Any:
        """Typed decode; a payload of an older class_version goes through the upcasters."""
        if wire.class_version > 1:
            try:
                payload: Any = wire.decoder.decode(data)
                if payload.class_version == wire.class_version:
                    return payload
            except msgspec.ValidationError:
                pass  # an older shape: upcast below
            return _upcast(cls, wire, msgspec.json.decode(data))
        return wire.decoder.decode(data)


def _upcast(cls: type, wire: _Wire, raw: dict[str, Any]) -> Any:
    version = raw.get("class_version", 1)
    while version < wire.class_version:
        getattr(cls, f"upcast_v{version}_v{version + 1}")(raw)
        version += 1
    raw["class_version"] = version
    return msgspec.convert(raw, wire.struct, strict=False)
