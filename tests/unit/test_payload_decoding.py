"""Hypothesis on payload decoding: any bytes or JSON sent as a body either decode into a
valid request Struct or fail with msgspec's own error (a 400/422), never anything else;
and every valid body survives an encode/decode round trip."""

from __future__ import annotations

import contextlib

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api import schemas as s
from api.clients import ClientBody

BODIES = [
    s.ReferralBody, s.IntakeBody, s.IndicationBody, s.SupportPlanBody, s.CareStartBody,
    s.ContactBody, s.NoShowBody, s.EvaluationBody, s.ScaleChangeBody, s.EndBody,
    s.ChangeRequestBody, s.DecisionBody, s.CorrectionBody, ClientBody,
]  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)


@pytest.mark.parametrize("body", BODIES, ids=lambda b: b.__name__)
@settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=200))
def test_any_bytes_decode_or_fail_cleanly(body: type, raw: bytes) -> None:
    with contextlib.suppress(msgspec.ValidationError, msgspec.DecodeError):
        msgspec.json.decode(raw, type=body, strict=True)


@pytest.mark.parametrize("body", BODIES, ids=lambda b: b.__name__)
@settings(max_examples=150, deadline=None)
@given(value=json_values)
def test_any_json_decodes_or_fails_cleanly_and_valid_ones_round_trip(
    body: type, value: object
) -> None:
    raw = msgspec.json.encode(value)
    try:
        decoded = msgspec.json.decode(raw, type=body, strict=True)
    except msgspec.ValidationError:
        return
    assert msgspec.json.decode(msgspec.json.encode(decoded), type=body, strict=True) == decoded
