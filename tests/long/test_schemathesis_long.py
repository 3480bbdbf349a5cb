"""The schemathesis run of tests/test_hostile_schemathesis.py, longer (more examples per operation),
with the statuses counted: the figure behind "zero 5xx" in docs/RELIABILITY.md."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, settings

from tests.test_hostile_schemathesis import CHECKS, caller, dev_server, schema  # noqa: F401 - fixtures

SEEN: Counter = Counter()
OPERATIONS: set[str] = set()


@schema.parametrize()
@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_every_documented_operation_holds_its_schema_long(case, dev_server, caller):
    response = case.call(base_url=dev_server.base, headers=caller(case.path), timeout=30)
    SEEN[response.status_code] += 1
    OPERATIONS.add(case.operation.label)
    case.validate_response(response, checks=CHECKS)


def test_record_the_schemathesis_figures(figures):
    if not SEEN:
        pytest.skip("the schemathesis run did not run in this session")
    figures.record("schemathesis on the dev server (150 examples per operation)",
                   operations=len(OPERATIONS), requests=sum(SEEN.values()),
                   serverErrors=sum(v for k, v in SEEN.items() if k >= 500),
                   statuses=dict(sorted(SEEN.items())))
