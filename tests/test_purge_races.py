"""Purges raced across containers, and retried with an Idempotency-Key.

Parallel DELETEs of one course (an admin's double submit, a retry while the first is running, on
separate Lambda containers): every one is answered for what happened, none with a 202 that names
no failure; the course is purged once, with one audit row.
"""

from __future__ import annotations

import json

from functions.purge_course.app import handler
from tests.conftest import ADMIN_TOKEN, call, url_event
from tests.containers import Fleet
from tests.purge_seed import NOTHING_LEFT, leftovers, seed_course
from tests.storage_fixtures import file_storage  # noqa: F401 - fixture


def test_parallel_deletes_of_one_course_are_each_answered_for_what_happened(db, rds, make_user, file_storage):
    owner = make_user()
    rounds, containers = 10, 6
    answers: dict[str, int] = {}
    with Fleet(containers, module="functions.purge_course.app") as fleet:
        for i in range(rounds):
            seeded = seed_course(db, rds, owner, storage=file_storage)
            replies = fleet.race([url_event("DELETE", f"/courses/{seeded.course_id}", token=ADMIN_TOKEN)
                                  for _ in range(containers)], jitter_ms=5, seed=i)
            bodies = [json.loads(r["body"]) for r in replies]
            for reply, body in zip(replies, bodies):
                key = f"{reply['statusCode']} {body.get('status')}"
                answers[key] = answers.get(key, 0) + 1
                assert reply["statusCode"] == 200, body
            assert sorted(b["status"] for b in bodies) == ["already_purged"] * (containers - 1) + ["purged"]
            assert all(b["result"] == seeded.expected for b in bodies)
            assert leftovers(db, rds, seeded, storage=file_storage) == NOTHING_LEFT
            audits = db.execute("SELECT count(*) FROM audit_log WHERE record_id = %s AND action = 'PURGE'",
                                (seeded.course_id,)).fetchone()[0]
            assert audits == 1
    print(f"\n{rounds} rounds of {containers} parallel DELETEs: {answers}")


def test_a_purge_repeated_with_its_key_answers_the_first_answer(db, rds, make_user, file_storage):
    owner = make_user()
    seeded = seed_course(db, rds, owner, storage=file_storage)
    key = {"Idempotency-Key": "purge-once"}
    first = call(handler, "DELETE", f"/courses/{seeded.course_id}", token=ADMIN_TOKEN, headers=key)
    again = call(handler, "DELETE", f"/courses/{seeded.course_id}", token=ADMIN_TOKEN, headers=key)
    plain = call(handler, "DELETE", f"/courses/{seeded.course_id}", token=ADMIN_TOKEN)
    assert first.status == again.status == 200 and first.json["status"] == "purged"
    assert again.json == first.json and again.headers["idempotent-replayed"] == "true"
    assert plain.json["status"] == "already_purged"
    other = call(handler, "DELETE", f"/courses/{seeded.course_id}", token=ADMIN_TOKEN, query={"dryRun": "true"},
                 headers=key)
    assert other.status == 422 and other.json["error"]["details"][0]["field"] == "Idempotency-Key"
    # Keys are the caller's: the owner's request with the same key is a request of its own.
    mine = call(handler, "DELETE", f"/courses/{seeded.course_id}", token=owner.token, headers=key)
    assert mine.status == 200 and mine.json["status"] == "already_purged" and "idempotent-replayed" not in mine.headers
