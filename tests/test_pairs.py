"""Pair construction, balanced batches and semi-hard negative mining (brute-force oracles)."""

import itertools

import numpy as np
import pytest

from skheatmap.pairs import (
    balanced_batches,
    label_pairs,
    semi_hard_negatives,
    triplets_to_pairs,
    validate_pairs,
)


def test_label_pairs_matches_brute_force():
    y = np.array([0, 1, 0, 2, 1, 0])
    pairs, labels = label_pairs(y)
    expected = [((i, j), int(y[i] == y[j])) for i, j in itertools.combinations(range(6), 2)]
    assert [tuple(p) for p in pairs] == [e[0] for e in expected]
    assert labels.tolist() == [e[1] for e in expected]


def test_across_groups_drops_same_subject_positives_only():
    y = np.array([0, 0, 0, 1])
    groups = np.array([0, 0, 1, 1])
    pairs, labels = label_pairs(y, groups, across_groups=True)
    positives = {tuple(p) for p, l in zip(pairs, labels, strict=True) if l == 1}
    negatives = {tuple(p) for p, l in zip(pairs, labels, strict=True) if l == 0}
    assert positives == {(0, 2), (1, 2)}
    assert negatives == {(0, 3), (1, 3), (2, 3)}


def test_across_groups_without_groups_is_an_error():
    with pytest.raises(ValueError, match="needs groups"):
        label_pairs([0, 0, 1], across_groups=True)


def test_groups_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="one group"):
        label_pairs([0, 0, 1], groups=[0, 1])


def _brute_force_semi_hard(D, y, margin):
    triplets = []
    for a, p in itertools.permutations(range(len(y)), 2):
        if y[a] != y[p]:
            continue
        negatives = [n for n in range(len(y)) if y[n] != y[a]]
        if not negatives:
            continue
        semi = [n for n in negatives if D[a, p] < D[a, n] < D[a, p] + margin]
        pool = semi if semi else negatives
        triplets.append((a, p, min(pool, key=lambda n: (D[a, n], n))))
    return sorted(triplets)


@pytest.mark.parametrize("seed", range(5))
def test_semi_hard_negatives_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(12, 3))
    D = np.linalg.norm(points[:, None] - points[None], axis=2)
    y = rng.integers(0, 3, size=12)
    got = sorted(map(tuple, semi_hard_negatives(D, y, margin=0.7).tolist()))
    assert got == _brute_force_semi_hard(D, y, 0.7)


def test_semi_hard_negatives_respect_across_groups():
    rng = np.random.default_rng(0)
    D = rng.random((8, 8))
    D = D + D.T
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    groups = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    triplets = semi_hard_negatives(D, y, margin=0.5, groups=groups, across_groups=True)
    assert (groups[triplets[:, 0]] != groups[triplets[:, 1]]).all()
    assert (y[triplets[:, 0]] != y[triplets[:, 2]]).all()
    assert len(triplets) == 8 * 2  # each anchor has two cross-group positives


def test_semi_hard_negatives_reject_bad_margin_and_shape():
    with pytest.raises(ValueError, match="margin must be > 0"):
        semi_hard_negatives(np.zeros((2, 2)), [0, 1], margin=0.0)
    with pytest.raises(ValueError, match=r"distances must have shape \(3, 3\)"):
        semi_hard_negatives(np.zeros((2, 2)), [0, 1, 1], margin=1.0)


def test_triplets_to_pairs_deduplicates_and_labels():
    pairs, labels = triplets_to_pairs(np.array([[0, 1, 3], [1, 0, 3], [2, 1, 3]]))
    as_dict = {tuple(p): int(l) for p, l in zip(pairs, labels, strict=True)}
    assert as_dict == {(0, 1): 1, (1, 2): 1, (0, 3): 0, (1, 3): 0, (2, 3): 0}


def test_balanced_batches_cover_every_recording_once():
    y = np.repeat(np.arange(5), 6)
    batches = balanced_batches(y, labels_per_batch=3, samples_per_label=3, random_state=0)
    seen = np.concatenate(batches)
    np.testing.assert_array_equal(np.sort(seen), np.arange(30))


def test_balanced_batches_give_every_anchor_a_positive_and_negatives():
    y = np.repeat(np.arange(4), 5)
    for batch in balanced_batches(y, labels_per_batch=2, samples_per_label=2, random_state=1):
        labels, counts = np.unique(y[batch], return_counts=True)
        assert len(labels) >= 2
        assert counts.min() >= 2


def test_balanced_batches_are_deterministic():
    y = np.repeat(np.arange(4), 5)
    a = balanced_batches(y, random_state=3)
    b = balanced_batches(y, random_state=3)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))


def test_balanced_batches_interleave_subjects():
    y = np.zeros(8, dtype=int)
    y[4:] = 1
    groups = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    batches = balanced_batches(y, labels_per_batch=2, samples_per_label=2, groups=groups,
                               random_state=0)  # fmt: skip
    for batch in batches:
        for label in (0, 1):
            members = batch[y[batch] == label]
            assert len(set(groups[members])) == len(members)  # two subjects, not one twice


def test_balanced_batches_need_two_usable_labels():
    with pytest.raises(ValueError, match="at least two labels"):
        balanced_batches([0, 0, 1])


@pytest.mark.parametrize("name", ["labels_per_batch", "samples_per_label"])
def test_balanced_batches_reject_sizes_below_two(name):
    with pytest.raises(ValueError, match=f"{name} must be an int >= 2"):
        balanced_batches([0, 0, 1, 1], **{name: 1})


def test_validate_pairs_names_the_missing_row():
    with pytest.raises(ValueError, match=r"pair 1 is \[2, 5\], but X has 4 recordings"):
        validate_pairs([[0, 1], [2, 5]], [1, 0], n_samples=4)


@pytest.mark.parametrize(
    "pairs, labels, match",
    [
        (np.zeros((3,)), [1], "shape \\(n_pairs, 2\\)"),
        ([[0.5, 1.0]], [1], "integer row indices"),
        ([[0, 1]], [2], "0 or 1"),
        ([[0, 1]], [1, 0], "one label per pair"),
    ],
)
def test_validate_pairs_rejects_bad_supervision(pairs, labels, match):
    with pytest.raises((ValueError, TypeError), match=match):
        validate_pairs(pairs, labels, n_samples=3)
