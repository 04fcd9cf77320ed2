from fractions import Fraction

import pytest

from vsinr.serving.timing import TimeMap, Windows


def test_ntsc_film_to_60_is_exact() -> None:
    tm = TimeMap(100, Fraction(24000, 1001), Fraction(60000, 1001))
    assert tm.num_frames == 250
    assert [tm.source_time(k) for k in range(6)] == [Fraction(2 * k, 5) for k in range(6)]
    assert tm.duration == Fraction(1001, 60000)
    # exact after many frames too (a float accumulator would drift)
    assert tm.source_time(249) == Fraction(498, 5)


def test_times_past_the_end_hold_the_last_frame() -> None:
    tm = TimeMap(10, Fraction(24), Fraction(96))
    assert tm.num_frames == 40
    assert tm.held_time(39) == 9 and tm.source_time(39) == Fraction(39, 4)


@pytest.mark.parametrize(
    ("num", "size", "step", "ratio", "lead"),
    [(10, 2, 1, Fraction(4), 0), (11, 4, 2, Fraction(2), 0), (3, 4, 2, Fraction(2), 0), (7, 2, 1, Fraction(5, 2), 0),
     (2, 2, 1, 3, 0), (9, 5, 1, 1, 2), (10, 3, 1, 1, 1), (3, 5, 1, 1, 2), (12, 6, 2, 2, 3)],
)
def test_every_output_belongs_to_exactly_one_window_that_contains_it(num: int, size: int, step: int, ratio: Fraction,
                                                                      lead: int) -> None:
    tm = TimeMap(num, Fraction(25), Fraction(25) * ratio)
    windows = Windows(tm, size, step, lead)
    served = [k for j in range(windows.count) for k in windows.outputs(j)]
    assert served == list(range(tm.num_frames))
    for k in range(tm.num_frames):
        j = windows.of(k)
        assert k in windows.outputs(j)
        sources = windows.sources(j)
        assert all(0 <= s < num for s in sources)
        local = tm.held_time(k) - windows.start(j)
        assert 0 <= local <= size - 1
        # the frames around the output time are read
        assert int(tm.held_time(k)) in sources


def test_pair_windows_read_the_two_neighbours() -> None:
    windows = Windows(TimeMap(5, Fraction(24), Fraction(48)), 2, 1)
    assert [windows.sources(windows.of(k)) for k in range(10)] == [
        [0, 1], [0, 1], [1, 2], [1, 2], [2, 3], [2, 3], [3, 4], [3, 4], [3, 4], [3, 4]
    ]


def test_centred_windows_serve_each_frame_from_the_frames_around_it() -> None:
    tm = TimeMap(9, Fraction(24), Fraction(24))
    windows = Windows(tm, 5, 1, 2)
    assert windows.count == 7  # the last window serves the last three frames
    assert [windows.sources(windows.of(k)) for k in (0, 1, 2, 4, 7, 8)] == [
        [0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [2, 3, 4, 5, 6], [4, 5, 6, 7, 8], [4, 5, 6, 7, 8]
    ]
    # away from the ends, the served frame is the middle of its window
    assert all(tm.held_time(k) - windows.start(windows.of(k)) == 2 for k in range(2, 7))
    # a clip shorter than a window repeats its last frame
    assert Windows(TimeMap(3, Fraction(24), Fraction(24)), 5, 1, 2).sources(2) == [0, 1, 2, 2, 2]
    with pytest.raises(ValueError, match="cannot lead"):
        Windows(tm, 3, 1, 2)
