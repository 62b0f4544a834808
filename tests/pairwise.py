"""All-pairs (pairwise) combinations of test options, for large option grids.

A full product of n options with two or three values each grows as 2**n, while
most bugs need only one option value, or two together, to show. `pairwise` picks
rows of the product such that every value of every option meets every value of
every other option in at least one row. So each option is still tested, on every
backend, and with each value of each other option.

The choice is deterministic (no randomness, no dependence on hashing): a greedy
pass over the full product in its natural order, taking each time the first row
that covers the most pairs not yet covered.
"""

import itertools


def pairwise(*options):
    """Rows (tuples) covering every pair of values of every two of ``options``.

    Each of ``options`` is a sequence of values. With one option, its values are
    the rows; with two, the whole product is. Values are the given objects
    themselves, told apart by position (unhashable ones are fine).
    """
    sizes = [len(values) for values in options]
    if not all(sizes):
        raise ValueError("every option needs at least one value")
    product = list(itertools.product(*(range(size) for size in sizes)))
    option_pairs = list(itertools.combinations(range(len(sizes)), 2))

    def pairs(row):
        return {(i, row[i], j, row[j]) for i, j in option_pairs}

    uncovered = set().union(*map(pairs, product))
    chosen = [] if option_pairs else product
    while uncovered:
        best = max(product, key=lambda row: len(pairs(row) & uncovered))
        chosen.append(best)
        uncovered -= pairs(best)
    return [tuple(options[k][i] for k, i in enumerate(row)) for row in chosen]


def shape_ids(value):
    """Test ids for shapes, ``2x3`` rather than pytest's ``size0``; other values
    keep pytest's ids (for ``pytest.mark.parametrize(..., ids=shape_ids)``)."""
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    return None
