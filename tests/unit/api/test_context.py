"""Correlation ids and traceparents a client sends: accepted only when sane."""

from __future__ import annotations

from talkavocado_api.context import accept_correlation_id, accept_traceparent


def test_correlation_and_trace_headers() -> None:
    assert accept_correlation_id("abc-123_x.y:z") == "abc-123_x.y:z"
    assert len(accept_correlation_id(None)) == 32
    assert accept_correlation_id("x" * 129) != "x" * 129
    assert accept_correlation_id("evil\r\nheader") != "evil\r\nheader"
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert accept_traceparent(trace.upper()) == trace
    assert accept_traceparent("garbage") is None
