"""Recorded instants as text (``domain.clock.instant_text``): the read models compare them as
strings, so every writer and reader must format them alike, to the microsecond, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from domain.clock import instant_text


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5, minutes=30))]
        ),
    )
)
def test_instant_text_is_the_utc_instant_to_the_microsecond_property(value: datetime) -> None:
    assert instant_text(value) == value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_whole_second_keeps_its_microseconds_and_order_follows_time() -> None:
    earlier = datetime(2024, 3, 31, 23, 59, 59, tzinfo=UTC)
    later = datetime(2024, 4, 1, 1, 0, 0, 1, tzinfo=timezone(timedelta(hours=2)))
    assert instant_text(earlier) == "2024-03-31T23:59:59.000000Z"
    assert instant_text(later) == "2024-03-31T23:00:00.000001Z"
    assert instant_text(earlier) > instant_text(later)
