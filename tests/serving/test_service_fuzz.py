"""No request a client can send makes the service answer 5xx (property-based)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


def _mutated(flight: dict) -> st.SearchStrategy[str]:
    """A valid flight with one field replaced, dropped or added, inside a valid-looking body."""
    replace = st.tuples(st.sampled_from(list(flight)), json_values).map(
        lambda kv: {**flight, kv[0]: kv[1]}
    )
    drop = st.sampled_from(list(flight)).map(lambda k: {c: v for c, v in flight.items() if c != k})
    add = st.tuples(st.text(max_size=6), json_values).map(lambda kv: {**flight, kv[0]: kv[1]})
    return st.lists(replace | drop | add, max_size=3).map(
        lambda flights: json.dumps({"flights": flights})
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_no_request_yields_a_server_error(server, flight, data):
    payload = data.draw(
        _mutated(flight)
        | json_values.map(json.dumps)
        | st.binary(max_size=64).map(lambda b: b.decode("latin-1"))
    )
    response = server.post(payload.encode("utf-8", "surrogatepass"))
    assert response.status_code < 500, (payload, response.text)
