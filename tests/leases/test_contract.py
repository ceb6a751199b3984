"""The lease contract (DESIGN §6), pinned against the memory and the Redis backend alike."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import pytest

from dialer.leases import Bucket, Granted, LeaseBackend, LeaseRequest, Rejected, Scope
from tests.leases.conftest import NOW, Harness

CAMPAIGN = Scope("campaign", "7", 2)
TRUNK = Scope("trunk", "carrier-a", 1)
NODE = Scope("node", "fs1", None)
EVERYWHERE = Scope("global", "all", None)
PACE = Bucket("campaign", "7", rate=5.0)
TRUNK_PACE = Bucket("trunk", "carrier-a", rate=5.0)


def granted(result: Granted | Rejected) -> Granted:
    assert isinstance(result, Granted), result
    return result


def rejected(result: Granted | Rejected) -> Rejected:
    assert isinstance(result, Rejected), result
    return result


# -- starting and losing state -------------------------------------------------------------


def test_a_new_backend_is_lost_until_restore_starts_it(fresh_leases: LeaseBackend) -> None:
    assert fresh_leases.acquire("a", [CAMPAIGN], 30, NOW) == Rejected("a", "lost_state", "", 0.0)
    assert fresh_leases.count(CAMPAIGN, NOW) == 0
    assert fresh_leases.leases(NOW) == {}

    assert fresh_leases.restore([], NOW) == 0
    assert fresh_leases.acquire("a", [CAMPAIGN], 30, NOW) == Granted("a", NOW + 30)


def test_losing_the_store_mid_run_refuses_calls_until_restored(
    harness: Harness, leases: LeaseBackend
) -> None:
    granted(leases.acquire("a", [CAMPAIGN, TRUNK], 30, NOW))
    harness.lose_state()

    assert (
        rejected(leases.acquire("b", [Scope("campaign", "8", 5)], 30, NOW + 1)).reason
        == "lost_state"
    )
    assert leases.leases(NOW + 1) == {}
    assert leases.count(Scope("campaign", "8", 5), NOW + 1) == 0
    assert leases.extend("a", 30, NOW + 1) is False
    assert leases.release("a") is False

    # What the database says is up: two live calls and one whose expiry has passed.
    restored = leases.restore(
        [
            ("a", [CAMPAIGN, TRUNK], NOW + 30),
            ("b", [CAMPAIGN, NODE], NOW + 60),
            ("gone", [CAMPAIGN], NOW + 0.5),
        ],
        NOW + 1,
    )
    assert restored == 2
    assert leases.count(CAMPAIGN, NOW + 1) == 2
    assert leases.count(TRUNK, NOW + 1) == 1
    assert leases.holders(CAMPAIGN, NOW + 1) == ["a", "b"]
    assert leases.leases(NOW + 1) == {"a": [CAMPAIGN.key, TRUNK.key], "b": [CAMPAIGN.key, NODE.key]}
    # The restored calls count against the limits again.
    assert rejected(leases.acquire("c", [CAMPAIGN], 30, NOW + 1)).reason == "limit"
    assert leases.release("a") is True
    granted(leases.acquire("c", [CAMPAIGN], 30, NOW + 1))
    # Restored expiries are the ones given.
    assert leases.count(NODE, NOW + 60) == 0


def test_reset_forgets_everything_and_loses_state(leases: LeaseBackend) -> None:
    granted(leases.acquire("a", [CAMPAIGN], 30, NOW, [PACE]))
    leases.reset()
    assert leases.leases(NOW) == {}
    assert leases.tokens(PACE, NOW) == PACE.burst
    assert rejected(leases.acquire("b", [CAMPAIGN], 30, NOW)).reason == "lost_state"
    leases.restore([], NOW)
    granted(leases.acquire("b", [CAMPAIGN], 30, NOW))


def test_restore_replaces_a_lease_already_present(leases: LeaseBackend) -> None:
    granted(leases.acquire("a", [CAMPAIGN, TRUNK], 30, NOW))
    assert leases.restore([("a", [NODE], NOW + 90)], NOW) == 1
    assert leases.leases(NOW) == {"a": [NODE.key]}
    assert leases.count(CAMPAIGN, NOW) == 0
    assert leases.count(NODE, NOW + 89) == 1


def test_restore_counts_calls_over_the_limit_and_free_never_goes_negative(
    leases: LeaseBackend,
) -> None:
    leases.restore([(f"r{i}", [TRUNK], NOW + 30) for i in range(3)], NOW)
    assert leases.count(TRUNK, NOW) == 3
    assert leases.free([TRUNK], NOW) == 0
    assert rejected(leases.acquire("x", [TRUNK], 30, NOW)).reason == "limit"


def test_restore_takes_any_iterable(leases: LeaseBackend) -> None:
    rows = ((f"r{i}", (CAMPAIGN,), NOW + 30 + i) for i in range(2))
    assert leases.restore(rows, NOW) == 2
    assert leases.holders(CAMPAIGN, NOW) == ["r0", "r1"]


# -- limits --------------------------------------------------------------------------------


def test_granted_lease_expires_at_now_plus_ttl(leases: LeaseBackend) -> None:
    assert leases.acquire("a", [CAMPAIGN], 42.5, NOW) == Granted("a", NOW + 42.5)


def test_a_full_scope_rejects_and_changes_nothing(leases: LeaseBackend) -> None:
    granted(leases.acquire("a", [CAMPAIGN], 30, NOW))
    granted(leases.acquire("b", [CAMPAIGN], 30, NOW))
    assert leases.acquire("c", [CAMPAIGN], 30, NOW) == Rejected("c", "limit", "campaign", 0.0)
    assert leases.holders(CAMPAIGN, NOW) == ["a", "b"]
    assert "c" not in leases.leases(NOW)


def test_limits_are_per_scope(leases: LeaseBackend) -> None:
    one, two = Scope("campaign", "1", 1), Scope("campaign", "2", 1)
    granted(leases.acquire("a", [one], 30, NOW))
    granted(leases.acquire("b", [two], 30, NOW))
    assert rejected(leases.acquire("c", [one], 30, NOW)).scope == "campaign"
    assert leases.count(one, NOW) == 1
    assert leases.count(two, NOW) == 1


def test_second_scope_full_rejects_and_leaves_the_first_unchanged(leases: LeaseBackend) -> None:
    roomy = Scope("campaign", "big", 10)
    granted(leases.acquire("other", [Scope("campaign", "x", None), TRUNK], 30, NOW))
    granted(leases.acquire("mine", [roomy], 30, NOW))

    assert leases.acquire("c", [roomy, TRUNK], 30, NOW) == Rejected("c", "limit", "trunk", 0.0)
    assert leases.holders(roomy, NOW) == ["mine"]
    assert leases.holders(TRUNK, NOW) == ["other"]
    assert leases.free([roomy], NOW) == 9


def test_the_first_full_scope_in_the_order_given_is_reported(leases: LeaseBackend) -> None:
    campaign, trunk = Scope("campaign", "c", 1), Scope("trunk", "t", 1)
    granted(leases.acquire("a", [campaign, trunk], 30, NOW))
    assert rejected(leases.acquire("b", [trunk, campaign], 30, NOW)).scope == "trunk"
    assert rejected(leases.acquire("b", [campaign, trunk], 30, NOW)).scope == "campaign"


def test_an_unlimited_scope_still_counts(leases: LeaseBackend) -> None:
    for i in range(5):
        granted(leases.acquire(f"a{i}", [NODE, EVERYWHERE], 30, NOW))
    assert leases.count(NODE, NOW) == 5
    assert leases.count(EVERYWHERE, NOW) == 5
    assert leases.free([NODE, EVERYWHERE], NOW) is None


def test_limit_zero_admits_nothing(leases: LeaseBackend) -> None:
    paused = Scope("tenant", "t1", 0)
    assert leases.acquire("a", [paused], 30, NOW) == Rejected("a", "limit", "tenant", 0.0)


def test_a_scope_named_twice_counts_once(leases: LeaseBackend) -> None:
    granted(leases.acquire("a", [TRUNK, TRUNK], 30, NOW))
    assert leases.count(TRUNK, NOW) == 1
    assert leases.leases(NOW) == {"a": [TRUNK.key]}


def test_a_lease_may_have_no_scope(leases: LeaseBackend) -> None:
    granted(leases.acquire("a", [], 30, NOW, [PACE]))
    assert leases.leases(NOW) == {"a": []}
    assert leases.release("a") is True


# -- expiry --------------------------------------------------------------------------------


def test_a_lease_counts_until_exactly_its_expiry(leases: LeaseBackend) -> None:
    lease = granted(leases.acquire("a", [CAMPAIGN, NODE], 10, NOW))
    just_before = math.nextafter(lease.expires_at, 0.0)
    assert leases.count(CAMPAIGN, just_before) == 1
    assert leases.holders(NODE, just_before) == ["a"]
    assert leases.leases(just_before) == {"a": [CAMPAIGN.key, NODE.key]}

    assert leases.count(CAMPAIGN, lease.expires_at) == 0
    assert leases.holders(NODE, lease.expires_at) == []
    assert leases.leases(lease.expires_at) == {}
    assert leases.free([CAMPAIGN], lease.expires_at) == 2


def test_acquire_reaps_expired_members(leases: LeaseBackend) -> None:
    granted(leases.acquire("old", [TRUNK, NODE], 10, NOW))
    assert rejected(leases.acquire("new", [TRUNK], 10, NOW + 5)).reason == "limit"
    granted(leases.acquire("new", [TRUNK], 10, NOW + 10))
    assert leases.holders(TRUNK, NOW + 10) == ["new"]
    # Reaped from every scope it was in, and forgotten.
    assert leases.release("old") is False
    assert leases.extend("old", 10, NOW + 10) is False


def test_an_acquire_anywhere_reaps_leases_of_idle_scopes(leases: LeaseBackend) -> None:
    idle = Scope("campaign", "idle", None)
    for i in range(10):
        granted(leases.acquire(f"idle{i}", [idle], 1, NOW))
    granted(leases.acquire("elsewhere", [NODE], 30, NOW + 2))
    assert not any(leases.release(f"idle{i}") for i in range(10))


# -- extend and release --------------------------------------------------------------------


def test_extend_moves_the_expiry_in_every_scope(leases: LeaseBackend) -> None:
    granted(leases.acquire("a", [CAMPAIGN, TRUNK], 10, NOW))
    assert leases.extend("a", 100, NOW + 5) is True
    for scope in (CAMPAIGN, TRUNK):
        assert leases.count(scope, NOW + 104) == 1
        assert leases.count(scope, NOW + 105) == 0
    # A shorter ttl shortens it: the expiry is always now + ttl.
    assert leases.extend("a", 1, NOW + 6) is True
    assert leases.count(TRUNK, NOW + 7) == 0


def test_extend_of_unknown_or_expired_lease_is_false(leases: LeaseBackend) -> None:
    assert leases.extend("nobody", 10, NOW) is False
    granted(leases.acquire("a", [TRUNK], 10, NOW))
    assert leases.extend("a", 10, NOW + 10) is False
    assert leases.count(TRUNK, NOW) == 0
    assert leases.leases(NOW) == {}


def test_release_removes_from_every_scope_and_is_idempotent(leases: LeaseBackend) -> None:
    granted(leases.acquire("a", [CAMPAIGN, TRUNK, NODE], 30, NOW))
    assert leases.release("a") is True
    assert leases.release("a") is False
    for scope in (CAMPAIGN, TRUNK, NODE):
        assert leases.count(scope, NOW) == 0
    assert leases.leases(NOW) == {}
    granted(leases.acquire("b", [TRUNK], 30, NOW))


def test_release_of_unknown_lease_is_false(leases: LeaseBackend) -> None:
    assert leases.release("never-seen") is False


# -- idempotent acquire --------------------------------------------------------------------


def test_acquiring_a_held_lease_extends_it_without_counting_twice(leases: LeaseBackend) -> None:
    granted(leases.acquire("a", [TRUNK], 10, NOW, [PACE]))
    tokens = leases.tokens(PACE, NOW + 0.01)
    # The trunk is full and the bucket empty, but the call is the trunk's holder.
    assert leases.acquire("a", [TRUNK], 30, NOW + 0.01, [PACE]) == Granted("a", NOW + 0.01 + 30)
    assert leases.count(TRUNK, NOW + 20) == 1
    assert leases.tokens(PACE, NOW + 0.01) == tokens
    # It keeps the scopes it was acquired with.
    assert leases.acquire("a", [NODE], 30, NOW + 1) == Granted("a", NOW + 31)
    assert leases.leases(NOW + 1) == {"a": [TRUNK.key]}


def test_acquiring_an_expired_lease_again_is_a_new_lease(leases: LeaseBackend) -> None:
    granted(leases.acquire("a", [TRUNK], 10, NOW, [PACE]))
    granted(leases.acquire("b", [Scope("campaign", "z", None)], 10, NOW + 10, [PACE]))
    # "a" expired and the pace bucket is empty again: this time it pays.
    assert rejected(leases.acquire("a", [TRUNK], 10, NOW + 10, [PACE])).reason == "rate"


# -- buckets -------------------------------------------------------------------------------


def test_a_bucket_spaces_calls(leases: LeaseBackend) -> None:
    scope = Scope("campaign", "7", None)
    granted(leases.acquire("a", [scope], 30, NOW, [PACE]))
    early = rejected(leases.acquire("b", [scope], 30, NOW + 0.1, [PACE]))
    assert (early.reason, early.scope) == ("rate", "campaign")
    assert early.retry_after == pytest.approx(0.1, abs=1e-4)
    assert leases.count(scope, NOW + 0.1) == 1
    granted(leases.acquire("b", [scope], 30, NOW + 0.2, [PACE]))


def test_many_calls_exactly_on_their_slots_are_all_granted(leases: LeaseBackend) -> None:
    pace = Bucket("trunk", "t", rate=50.0)
    for i in range(50):
        granted(leases.acquire(f"c{i}", [], 30, NOW + i / 50, [pace]))


def test_a_bucket_never_seen_starts_full(leases: LeaseBackend) -> None:
    burst = Bucket("trunk", "t", rate=1.0, burst=3.0)
    assert leases.tokens(burst, NOW) == 3.0
    for i in range(3):
        granted(leases.acquire(f"a{i}", [], 30, NOW, [burst]))
    assert leases.tokens(burst, NOW) == pytest.approx(0.0)
    refused = rejected(leases.acquire("a3", [], 30, NOW, [burst]))
    assert refused.retry_after == pytest.approx(1.0)


def test_refill_is_continuous_and_capped_at_burst(leases: LeaseBackend) -> None:
    burst = Bucket("campaign", "c", rate=2.0, burst=3.0)
    for i in range(3):
        granted(leases.acquire(f"a{i}", [], 30, NOW, [burst]))
    assert leases.tokens(burst, NOW + 0.25) == pytest.approx(0.5, abs=1e-6)
    assert leases.tokens(burst, NOW + 1.0) == pytest.approx(2.0, abs=1e-6)
    assert leases.tokens(burst, NOW + 1000) == 3.0
    # Reading takes nothing.
    assert leases.tokens(burst, NOW + 1000) == 3.0
    for i in range(3):
        granted(leases.acquire(f"b{i}", [], 30, NOW + 1000, [burst]))
    assert rejected(leases.acquire("b3", [], 30, NOW + 1000, [burst])).reason == "rate"


def test_a_clock_behind_the_last_call_refills_nothing(leases: LeaseBackend) -> None:
    granted(leases.acquire("a", [], 30, NOW, [PACE]))
    assert leases.tokens(PACE, NOW - 1) == 0.0
    assert rejected(leases.acquire("b", [], 30, NOW - 1, [PACE])).retry_after == pytest.approx(0.2)
    assert leases.tokens(PACE, NOW + 0.1) == pytest.approx(0.5, abs=1e-6)


def test_a_call_granted_on_a_clock_behind_keeps_the_later_instant(leases: LeaseBackend) -> None:
    pace = Bucket("trunk", "t", rate=5.0, burst=2.0)
    granted(leases.acquire("a", [], 30, NOW, [pace]))
    granted(leases.acquire("b", [], 30, NOW - 1, [pace]))
    # Refill counts from NOW, not from the behind caller's NOW - 1 (which would refill 5.5).
    assert leases.tokens(pace, NOW + 0.1) == pytest.approx(0.5, abs=1e-6)


def test_an_empty_bucket_rejects_and_takes_no_token_from_the_others(leases: LeaseBackend) -> None:
    granted(leases.acquire("a", [], 30, NOW, [TRUNK_PACE]))
    assert leases.tokens(PACE, NOW) == 1.0
    refused = rejected(leases.acquire("b", [NODE], 30, NOW, [PACE, TRUNK_PACE]))
    assert (refused.reason, refused.scope) == ("rate", "trunk")
    assert leases.tokens(PACE, NOW) == 1.0
    assert leases.count(NODE, NOW) == 0
    assert "b" not in leases.leases(NOW)


def test_the_first_empty_bucket_in_the_order_given_is_reported(leases: LeaseBackend) -> None:
    granted(leases.acquire("a", [], 30, NOW, [PACE, TRUNK_PACE]))
    assert rejected(leases.acquire("b", [], 30, NOW, [TRUNK_PACE, PACE])).scope == "trunk"
    assert rejected(leases.acquire("b", [], 30, NOW, [PACE, TRUNK_PACE])).scope == "campaign"


def test_scopes_are_checked_before_buckets(leases: LeaseBackend) -> None:
    granted(leases.acquire("a", [TRUNK], 30, NOW, [PACE]))
    assert leases.acquire("b", [TRUNK], 30, NOW, [PACE]) == Rejected("b", "limit", "trunk", 0.0)
    # A limit rejection takes no token either.
    pace = Bucket("trunk", "fresh", rate=1.0)
    assert rejected(leases.acquire("b", [TRUNK], 30, NOW, [pace])).reason == "limit"
    assert leases.tokens(pace, NOW) == 1.0


def test_a_bucket_named_twice_pays_once(leases: LeaseBackend) -> None:
    granted(leases.acquire("a", [], 30, NOW, [PACE, PACE]))
    assert leases.tokens(PACE, NOW) == 0.0


# -- reading -------------------------------------------------------------------------------


def test_leases_lists_every_live_lease_with_its_scope_keys_in_order(leases: LeaseBackend) -> None:
    granted(leases.acquire("a", [CAMPAIGN, TRUNK, NODE], 30, NOW))
    granted(leases.acquire("b", [NODE, EVERYWHERE], 5, NOW))
    assert leases.leases(NOW) == {
        "a": ["campaign:7", "trunk:carrier-a", "node:fs1"],
        "b": ["node:fs1", "global:all"],
    }
    assert leases.leases(NOW + 5) == {"a": ["campaign:7", "trunk:carrier-a", "node:fs1"]}


def test_holders_are_listed_earliest_expiry_first(leases: LeaseBackend) -> None:
    for lease_id, ttl in (("late", 30), ("early", 10), ("middle", 20)):
        granted(leases.acquire(lease_id, [NODE], ttl, NOW))
    assert leases.holders(NODE, NOW) == ["early", "middle", "late"]
    assert leases.holders(NODE.key, NOW + 15) == ["middle", "late"]


def test_count_takes_a_scope_or_its_key(leases: LeaseBackend) -> None:
    granted(leases.acquire("a", [CAMPAIGN], 30, NOW))
    assert leases.count(CAMPAIGN, NOW) == leases.count("campaign:7", NOW) == 1
    assert leases.count("campaign:unknown", NOW) == 0


def test_free_is_the_fewest_free_slots_over_limited_scopes(leases: LeaseBackend) -> None:
    roomy = Scope("campaign", "roomy", 10)
    assert leases.free([roomy, TRUNK, NODE], NOW) == 1
    granted(leases.acquire("a", [roomy, NODE], 30, NOW))
    assert leases.free([roomy, TRUNK, NODE], NOW) == 1
    granted(leases.acquire("b", [roomy, TRUNK], 30, NOW))
    assert leases.free([roomy, TRUNK], NOW) == 0
    assert leases.free([roomy], NOW) == 8
    assert leases.free([NODE], NOW) is None
    assert leases.free([], NOW) is None


def test_another_handle_sees_the_same_state(harness: Harness, leases: LeaseBackend) -> None:
    other = harness.another()
    granted(leases.acquire("a", [TRUNK], 30, NOW, [PACE]))
    assert rejected(other.acquire("b", [TRUNK], 30, NOW)).reason == "limit"
    assert other.tokens(PACE, NOW) == 0.0
    assert other.release("a") is True
    assert leases.count(TRUNK, NOW) == 0


# -- arguments -----------------------------------------------------------------------------


def test_value_keys() -> None:
    assert Scope("trunk", "carrier-a", 3).key == "trunk:carrier-a"
    assert Bucket("campaign", "7", 2.0).key == "campaign:7"


@pytest.mark.parametrize(
    "build",
    [
        lambda: Scope("campaign", "1", -1),
        lambda: Bucket("campaign", "1", rate=0.0),
        lambda: Bucket("campaign", "1", rate=1.0, burst=0.5),
    ],
    ids=["negative-limit", "zero-rate", "burst-below-one"],
)
def test_impossible_values_are_refused(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        build()


def test_a_ttl_must_be_positive(leases: LeaseBackend) -> None:
    with pytest.raises(ValueError, match="ttl"):
        leases.acquire("a", [CAMPAIGN], 0, NOW)
    granted(leases.acquire("a", [CAMPAIGN], 1, NOW))
    with pytest.raises(ValueError, match="ttl"):
        leases.extend("a", -1, NOW)


def test_wait_released_wakes_on_a_release_and_only_then(leases: LeaseBackend) -> None:
    scope = Scope("campaign", "c1", 5)
    leases.acquire("a", [scope], 60, NOW)
    assert leases.wait_released(0.05) is False  # nothing released yet
    assert leases.release("unknown") is False
    assert leases.wait_released(0.05) is False  # releasing nothing wakes nobody
    leases.release("a")
    started = time.monotonic()
    assert leases.wait_released(5.0) is True
    assert time.monotonic() - started < 1.0  # at once, not at the timeout
    assert leases.wait_released(0) is False  # one wake-up for the releases so far


def test_wait_released_wakes_a_waiter_blocked_before_the_release(leases: LeaseBackend) -> None:
    scope = Scope("campaign", "c1", 5)
    leases.acquire("a", [scope], 60, NOW)
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(leases.wait_released(5.0)))
    waiter.start()
    time.sleep(0.1)
    started = time.monotonic()
    leases.release("a")
    waiter.join(timeout=5)
    assert woke == [True]
    assert time.monotonic() - started < 1.0


# -- batches: one round trip, the same answers as one call after another -------------------


def test_acquire_many_answers_in_order_as_sequential_acquires(leases: LeaseBackend) -> None:
    requests = [LeaseRequest(f"b{i}", [CAMPAIGN, NODE], 30.0) for i in range(3)]
    results = leases.acquire_many(requests, NOW)
    assert [type(r).__name__ for r in results] == ["Granted", "Granted", "Rejected"]
    assert [r.lease_id for r in results] == ["b0", "b1", "b2"]
    assert rejected(results[2]).reason == "limit"
    assert results[2].scope == "campaign"
    assert granted(results[0]).expires_at == NOW + 30.0
    assert leases.holders(CAMPAIGN, NOW) == ["b0", "b1"]
    assert leases.count(NODE, NOW) == 2  # the rejected one changed nothing


def test_acquire_many_takes_one_token_per_granted_lease(leases: LeaseBackend) -> None:
    pace = Bucket("campaign", "9", rate=2.0, burst=2.0)
    requests = [LeaseRequest(f"t{i}", [], 30.0, [pace]) for i in range(3)]
    results = leases.acquire_many(requests, NOW)
    assert [isinstance(r, Granted) for r in results] == [True, True, False]
    assert rejected(results[2]).reason == "rate"
    assert results[2].retry_after == pytest.approx(0.5)
    assert leases.tokens(pace, NOW) == pytest.approx(0.0)


def test_acquire_many_of_nothing_is_nothing(leases: LeaseBackend) -> None:
    assert leases.acquire_many([], NOW) == []
    assert leases.release_many([]) == 0
    assert leases.extend_many([], 10.0, NOW) == 0


def test_acquire_many_on_a_lost_store_says_lost_state_for_each(
    fresh_leases: LeaseBackend,
) -> None:
    results = fresh_leases.acquire_many(
        [LeaseRequest("x", [NODE], 5.0), LeaseRequest("y", [NODE], 5.0)], NOW
    )
    assert [rejected(r).reason for r in results] == ["lost_state", "lost_state"]


def test_release_many_counts_what_was_held_and_frees_the_scopes(leases: LeaseBackend) -> None:
    leases.acquire_many([LeaseRequest(i, [CAMPAIGN], 30.0) for i in ("r1", "r2")], NOW)
    assert leases.release_many(["r1", "r2", "never"]) == 2
    assert leases.count(CAMPAIGN, NOW) == 0
    assert leases.release_many(["r1"]) == 0


def test_extend_many_extends_held_leases_only(leases: LeaseBackend) -> None:
    leases.acquire_many([LeaseRequest(i, [NODE], 10.0) for i in ("e1", "e2")], NOW)
    assert leases.extend_many(["e1", "e2", "gone"], 100.0, NOW + 1) == 2
    assert leases.count(NODE, NOW + 50) == 2
    assert leases.count(NODE, NOW + 102) == 0


# -- reserving a token ahead (wait) ---------------------------------------------------------


def test_a_token_due_within_the_wait_is_reserved_and_its_delay_told(leases: LeaseBackend) -> None:
    pace = Bucket("campaign", "r", rate=10.0)
    first = granted(leases.acquire("w0", [], 30, NOW, [pace], wait=0.25))
    assert first.delay == 0.0
    delays = [granted(leases.acquire(f"w{i}", [], 30, NOW, [pace], wait=0.25)).delay
              for i in (1, 2)]  # fmt: skip
    assert delays == [pytest.approx(0.1), pytest.approx(0.2)]
    # the next one would be due in 0.3 s, beyond the wait: refused, nothing taken
    late = rejected(leases.acquire("w3", [], 30, NOW, [pace], wait=0.25))
    assert late.reason == "rate"
    assert late.retry_after == pytest.approx(0.3)
    assert leases.tokens(pace, NOW) == pytest.approx(-2.0)  # two reserved ahead
    # time catches up with the reservations: the next slot follows the last one reserved
    assert granted(leases.acquire("w4", [], 30, NOW + 0.2, [pace], wait=0.25)).delay == (
        pytest.approx(0.1)
    )


def test_without_a_wait_nothing_is_reserved(leases: LeaseBackend) -> None:
    pace = Bucket("campaign", "n", rate=10.0)
    granted(leases.acquire("a", [], 30, NOW, [pace]))
    assert rejected(leases.acquire("b", [], 30, NOW, [pace])).retry_after == pytest.approx(0.1)
    assert leases.tokens(pace, NOW) == pytest.approx(0.0)


def test_a_batch_gets_its_slots_spaced_at_the_rate_in_one_call(leases: LeaseBackend) -> None:
    pace = Bucket("campaign", "s", rate=50.0)
    requests = [LeaseRequest(f"s{i}", [CAMPAIGN], 30, [pace], wait=1.0) for i in range(2)]
    requests += [LeaseRequest(f"x{i}", [NODE], 30, [pace], wait=1.0) for i in range(3)]
    results = leases.acquire_many(requests, NOW)
    assert [granted(r).delay for r in results] == [
        pytest.approx(0.02 * i, abs=1e-9) for i in range(5)
    ]


def test_the_slowest_bucket_sets_the_delay_and_a_refusal_reserves_nothing(
    leases: LeaseBackend,
) -> None:
    fast, slow = Bucket("trunk", "f", rate=100.0), Bucket("campaign", "sl", rate=2.0)
    granted(leases.acquire("p0", [], 30, NOW, [fast, slow], wait=1.0))
    second = granted(leases.acquire("p1", [], 30, NOW, [fast, slow], wait=1.0))
    assert second.delay == pytest.approx(0.5)
    refused = rejected(leases.acquire("p2", [], 30, NOW, [fast, slow], wait=0.9))
    assert refused.scope == "campaign"
    assert leases.tokens(fast, NOW) == pytest.approx(-1.0)  # p2 took nothing from it


def test_count_many_counts_every_scope_at_one_instant(leases: LeaseBackend) -> None:
    leases.acquire_many([LeaseRequest(f"c{i}", [CAMPAIGN, NODE], 30.0) for i in range(2)], NOW)
    leases.acquire("short", [NODE], 5.0, NOW)
    assert leases.count_many([CAMPAIGN, NODE, "trunk:none"], NOW) == [2, 3, 0]
    assert leases.count_many([NODE], NOW + 10) == [2]  # "short" expired
    assert leases.count_many([], NOW) == []


def test_count_many_on_a_lost_store_is_none_not_zero(
    fresh_leases: LeaseBackend, harness: Harness
) -> None:
    assert fresh_leases.count_many([NODE], NOW) is None  # never started
    fresh_leases.restore([("x", [NODE], NOW + 60)], NOW)
    assert fresh_leases.count_many([NODE], NOW) == [1]
    harness.lose_state()
    assert fresh_leases.count_many([NODE], NOW) is None
