"""utils/splits.py: the seeded subsets of the training split.

split_pairs is tested in test_data.py, beside the folders it splits.
"""

import pytest

from tests.fixtures import fake_pairs
from utils.splits import stats_pairs, subset_train, val_count


@pytest.mark.parametrize("count", [None, 5, 9])
def test_subset_train_keeps_everything_when_not_smaller(count):
    pairs = fake_pairs(5)
    assert subset_train(pairs, count, seed=0) == pairs


def test_subset_train_nests_smaller_subsets_in_larger_ones():
    pairs = fake_pairs(12)
    subsets = [set(subset_train(pairs, count, seed=3)) for count in (2, 5, 9)]
    assert [len(subset) for subset in subsets] == [2, 5, 9]
    assert subsets[0] <= subsets[1] <= subsets[2]
    # Kept in the split's own (sorted) order, whatever the draw.
    kept = subset_train(pairs, 5, seed=3)
    assert kept == sorted(kept, key=pairs.index)
    assert subset_train(pairs, 5, seed=4) != kept


def test_stats_pairs_is_a_fixed_seeded_order_capped_at_count():
    pairs = fake_pairs(6)
    first = stats_pairs(pairs, 4, seed=1)
    assert len(first) == 4 and len(set(first)) == 4
    assert first != pairs[:4]  # shuffled, not the split's first pairs
    assert stats_pairs(pairs, 4, seed=1) == first
    assert sorted(stats_pairs(pairs, 100, seed=1), key=pairs.index) == pairs


@pytest.mark.parametrize(
    "count, val_fraction, expected",
    # 3,680 x 0.2 = 736 exactly; 331 + 83 = 414 x 0.2 = 82.8 rounds up to 83;
    # 10 x 0.25 = 2.5 rounds to the even 2, as Python's round does.
    [(3_680, 0.2, 736), (414, 0.2, 83), (10, 0.25, 2), (5, 0.0, 0)],
)
def test_val_count(count, val_fraction, expected):
    assert val_count(count, val_fraction) == expected
