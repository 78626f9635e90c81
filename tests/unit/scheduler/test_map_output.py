from __future__ import annotations

import doctest

import pytest

from ember.scheduler import map_output
from ember.scheduler.map_output import MapOutputTracker, MapStatus, UnknownShuffleError


def status(executor_id: str, *sizes: int) -> MapStatus:
    return MapStatus(executor_id, f"http://{executor_id}:7078", sizes)


@pytest.fixture
def tracker() -> MapOutputTracker:
    tracker = MapOutputTracker()
    tracker.register_shuffle(0, 3)
    return tracker


def test_docstring_examples() -> None:
    assert doctest.testmod(map_output).failed == 0


def test_new_shuffle_is_missing_every_map(tracker: MapOutputTracker) -> None:
    assert tracker.missing(0) == [0, 1, 2]
    assert not tracker.is_complete(0)
    assert tracker.statuses(0) == [None, None, None]
    assert tracker.sizes_by_reduce(0) == []


def test_registering_every_map_completes_the_shuffle(tracker: MapOutputTracker) -> None:
    tracker.register(0, 0, status("a", 1, 2))
    tracker.register(0, 2, status("b", 3, 4))
    assert tracker.missing(0) == [1]
    tracker.register(0, 1, status("a", 10, 0))
    assert tracker.is_complete(0)
    assert tracker.statuses(0) == [status("a", 1, 2), status("a", 10, 0), status("b", 3, 4)]
    assert tracker.sizes_by_reduce(0) == [14, 6]
    assert tracker.epoch == 0  # registering never moves the epoch


def test_sizes_by_reduce_sums_only_registered_outputs(tracker: MapOutputTracker) -> None:
    tracker.register(0, 1, status("a", 5, 6, 7))
    assert tracker.sizes_by_reduce(0) == [5, 6, 7]


def test_zero_map_shuffle_is_complete() -> None:
    tracker = MapOutputTracker()
    tracker.register_shuffle(4, 0)
    assert tracker.is_complete(4)
    assert tracker.missing(4) == []


def test_unregister_bumps_epoch_only_when_something_was_removed(
    tracker: MapOutputTracker,
) -> None:
    tracker.register(0, 0, status("a", 1))
    assert tracker.unregister(0, 1) is False
    assert tracker.epoch == 0
    assert tracker.unregister(0, 0) is True
    assert tracker.epoch == 1
    assert tracker.missing(0) == [0, 1, 2]


def test_unregister_with_executor_keeps_a_newer_output_elsewhere(
    tracker: MapOutputTracker,
) -> None:
    tracker.register(0, 0, status("b", 1))  # re-run on b after a was lost
    assert tracker.unregister(0, 0, executor_id="a") is False
    assert tracker.statuses(0)[0] == status("b", 1)
    assert tracker.unregister(0, 0, executor_id="b") is True


def test_remove_outputs_on_executor_reports_what_it_removed() -> None:
    tracker = MapOutputTracker()
    tracker.register_shuffle(1, 2)
    tracker.register_shuffle(0, 2)
    tracker.register(0, 0, status("a", 1))
    tracker.register(0, 1, status("b", 1))
    tracker.register(1, 1, status("a", 1))
    assert tracker.remove_outputs_on_executor("a") == [(0, 0), (1, 1)]
    assert tracker.epoch == 1
    assert tracker.missing(0) == [0]
    assert tracker.remove_outputs_on_executor("a") == []
    assert tracker.epoch == 1
    assert tracker.executors_with_outputs() == {"b"}


def test_register_shuffle_again_keeps_outputs_but_rejects_another_size(
    tracker: MapOutputTracker,
) -> None:
    tracker.register(0, 0, status("a", 1))
    tracker.register_shuffle(0, 3)
    assert tracker.missing(0) == [1, 2]
    with pytest.raises(ValueError, match="already registered with 3 map tasks, not 4"):
        tracker.register_shuffle(0, 4)


def test_unregister_shuffle_forgets_it() -> None:
    tracker = MapOutputTracker()
    tracker.register_shuffle(0, 1)
    tracker.register(0, 0, status("a", 1))
    tracker.unregister_shuffle(0)
    tracker.unregister_shuffle(0)  # unknown ids are ignored
    assert not tracker.has_shuffle(0)
    assert tracker.epoch == 1
    with pytest.raises(UnknownShuffleError, match="shuffle 0 is not registered"):
        tracker.missing(0)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda t: t.register(9, 0, status("a", 1)), UnknownShuffleError,
         r"shuffle 9 is not registered \(registered shuffles: 0\)"),
        (lambda t: t.register(0, 3, status("a", 1)), ValueError,
         r"map id 3 is out of range for shuffle 0 \(3 maps\)"),
        (lambda t: t.unregister(0, -1), ValueError, "map id -1 is out of range"),
        (lambda t: t.register_shuffle(1, -1), ValueError, "negative number of map tasks"),
        (lambda t: MapStatus("a", "http://a:1", (1, -2)), ValueError, "negative block size"),
    ],
)
def test_bad_arguments_are_refused(
    tracker: MapOutputTracker, call: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        call(tracker)  # type: ignore[operator]


def test_maps_of_one_shuffle_must_agree_on_reduce_partitions(tracker: MapOutputTracker) -> None:
    tracker.register(0, 0, status("a", 1, 2))
    with pytest.raises(ValueError, match="reports 3 reduce partitions, but other maps"):
        tracker.register(0, 1, status("a", 1, 2, 3))


def test_map_status_stores_sizes_as_a_tuple() -> None:
    assert MapStatus("a", "http://a:1", [1, 2]).sizes == (1, 2)  # type: ignore[arg-type]
    assert MapStatus("a", "http://a:1", (1, 2)).total_size == 3
