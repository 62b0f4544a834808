"""Tests for the tests' own all-pairs generator (tests/pairwise.py)."""

import itertools

import pytest
from pairwise import pairwise, shape_ids

GRIDS = [
    [[1, 2]],
    [[1, 2], ["a", "b", "c"]],
    [["x", "y", "z"], [True, False], [True, False], [True, False], [(5,), (4, 3)]],
    [range(3), range(3), range(3), range(3)],
    [range(4), range(2), range(3), range(2), range(5), range(2)],
    [[None], [[1], [2]], [{}, {"a": 1}]],  # unhashable values
]


@pytest.mark.parametrize("grid", GRIDS)
def test_every_pair_is_covered(grid):
    rows = pairwise(*grid)
    assert all(len(row) == len(grid) for row in rows)
    for i, j in itertools.combinations(range(len(grid)), 2):
        for a, b in itertools.product(grid[i], grid[j]):
            assert any(row[i] == a and row[j] == b for row in rows), (i, a, j, b)
    # every row is a row of the product: values come from their own option
    for row in rows:
        assert all(value in options for value, options in zip(row, grid, strict=True))
    # no row twice, and no more rows than the product has
    assert len(set(map(repr, rows))) == len(rows)
    assert len(rows) <= len(list(itertools.product(*grid)))


def test_fewer_rows_than_the_product_and_deterministic():
    grid = [range(3), [True, False], [True, False], [True, False], [0, 1]]
    rows = pairwise(*grid)
    assert len(rows) <= 8 < len(list(itertools.product(*grid)))
    assert rows == pairwise(*grid)
    # two options: all pairs are the whole product, in its order
    assert pairwise([1, 2], "ab") == list(itertools.product([1, 2], "ab"))


def test_no_values():
    with pytest.raises(ValueError, match="at least one value"):
        pairwise([1, 2], [])


def test_shape_ids():
    assert [shape_ids(v) for v in [(5,), (2, 3), 0.5, "a"]] == ["5", "2x3", None, None]
