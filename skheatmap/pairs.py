"""Pairs of recordings: construction from labels, balanced batches, semi-hard mining.

A pair is a row ``(i, j)`` of an ``(n_pairs, 2)`` integer array indexing
recordings; its label is 1 when both recordings share a label (a positive
pair) and 0 otherwise. With subject ``groups``, positives can be restricted to
recordings of different subjects, the cross-subject setting.
"""

import numbers

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "balanced_batches",
    "label_pairs",
    "semi_hard_negatives",
    "triplets_to_pairs",
    "validate_pairs",
]


def _check_labels(y, groups):
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of labels, got shape {y.shape}.")
    _reject_missing(y, "y")
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != y.shape:
            raise ValueError(
                f"groups has shape {groups.shape} but y has shape {y.shape}; give one "
                "group (subject) per recording."
            )
        _reject_missing(groups, "groups")
    return y, groups


def _reject_missing(values, name):
    # NaN != NaN would make every pair with a missing label a negative pair
    if values.dtype.kind == "f" and np.isnan(values).any():
        raise ValueError(
            f"{name} contains NaN at position {int(np.flatnonzero(np.isnan(values))[0])}; "
            f"every recording needs a {name} value (drop unlabelled recordings)."
        )


def _positive_mask(y, groups, across_groups):
    """``(n, n)`` mask of positive pairs, the diagonal excluded."""
    same = y[:, np.newaxis] == y[np.newaxis, :]
    np.fill_diagonal(same, False)
    if across_groups:
        if groups is None:
            raise ValueError("across_groups=True needs groups (the subject of each recording).")
        same &= groups[:, np.newaxis] != groups[np.newaxis, :]
    return same


def label_pairs(y, groups=None, *, across_groups=False):
    """Every unordered pair of recordings with its pair label.

    Parameters
    ----------
    y : array-like of shape (n,)
        Label (segment, emotion) of each recording.
    groups : array-like of shape (n,), optional
        Subject of each recording.
    across_groups : bool, default=False
        Keep only positive pairs whose recordings come from different groups;
        negative pairs are kept whatever their groups.

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2)
        Index pairs ``i < j``.
    pair_labels : ndarray of shape (n_pairs,)
        1 for same-label pairs, 0 for different-label pairs.

    Examples
    --------
    >>> from skheatmap.pairs import label_pairs
    >>> pairs, labels = label_pairs([0, 0, 1])
    >>> pairs.tolist(), labels.tolist()
    ([[0, 1], [0, 2], [1, 2]], [1, 0, 0])
    >>> label_pairs([0, 0, 1], groups=[5, 5, 6], across_groups=True)[0].tolist()
    [[0, 2], [1, 2]]
    """
    y, groups = _check_labels(y, groups)
    i, j = np.triu_indices(y.size, k=1)
    positive = _positive_mask(y, groups, across_groups)[i, j]
    keep = positive | (y[i] != y[j])
    return np.column_stack([i, j])[keep], positive[keep].astype(np.intp)


def validate_pairs(pairs, pair_labels, n_samples):
    """Check explicit pair supervision against a dataset of ``n_samples`` recordings.

    Parameters
    ----------
    pairs : array-like of shape (n_pairs, 2)
    pair_labels : array-like of shape (n_pairs,)
        0 or 1; ``None`` skips the label checks (prediction time).
    n_samples : int

    Returns
    -------
    pairs : ndarray of int, shape (n_pairs, 2)
    pair_labels : ndarray of int, shape (n_pairs,), or None

    Examples
    --------
    >>> from skheatmap.pairs import validate_pairs
    >>> validate_pairs([[0, 2]], [1], n_samples=3)[0]
    array([[0, 2]])
    """
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.shape[0] == 0:
        raise ValueError(
            f"pairs must have shape (n_pairs, 2) with n_pairs >= 1, got {pairs.shape}."
        )
    if pairs.dtype.kind not in "iu":
        if pairs.dtype.kind != "f" or not np.all(pairs == np.round(pairs)):
            raise TypeError(f"pairs must hold integer row indices, got dtype {pairs.dtype}.")
        pairs = pairs.astype(np.intp)
    out_of_range = (pairs < 0) | (pairs >= n_samples)
    if out_of_range.any():
        row = int(np.argmax(out_of_range.any(axis=1)))
        raise ValueError(
            f"pair {row} is {pairs[row].tolist()}, but X has {n_samples} recordings "
            f"(valid indices 0..{n_samples - 1})."
        )
    if pair_labels is None:
        return pairs, None
    pair_labels = np.asarray(pair_labels)
    if pair_labels.shape != (pairs.shape[0],):
        raise ValueError(
            f"pair_labels has shape {pair_labels.shape}, expected ({pairs.shape[0]},): one "
            "label per pair."
        )
    if not np.isin(pair_labels, (0, 1)).all():
        raise ValueError(
            f"pair_labels must be 0 or 1, got values {np.unique(pair_labels).tolist()}."
        )
    return pairs, pair_labels.astype(np.intp)


def balanced_batches(
    y, *, labels_per_batch=4, samples_per_label=4, groups=None, random_state=None
):
    """One epoch of balanced minibatches: ``P`` labels × ``K`` recordings each.

    Every batch holds ``labels_per_batch`` distinct labels with up to
    ``samples_per_label`` recordings each, so each anchor has several positives
    and a controlled number of negatives. Labels are drawn in proportion to
    their remaining recordings, so an epoch visits every recording of a label
    with at least two recordings once; singleton labels only serve as negatives.
    With ``groups``, the recordings of a label are taken from as many different
    subjects as possible (round-robin), which favours cross-subject positives.

    Parameters
    ----------
    y : array-like of shape (n,)
    labels_per_batch : int, default=4
        ``P``, at least 2 (a batch needs negatives).
    samples_per_label : int, default=4
        ``K``, at least 2 (an anchor needs a positive).
    groups : array-like of shape (n,), optional
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    batches : list of ndarray of int
        Indices of the recordings of each batch.

    Examples
    --------
    >>> from skheatmap.pairs import balanced_batches
    >>> batches = balanced_batches([0, 0, 1, 1, 2, 2], labels_per_batch=2,
    ...                            samples_per_label=2, random_state=0)
    >>> sorted(int(i) for b in batches for i in b)
    [0, 1, 2, 3, 4, 5]
    """
    for name, value in (("labels_per_batch", labels_per_batch),
                        ("samples_per_label", samples_per_label)):  # fmt: skip
        if not isinstance(value, numbers.Integral) or value < 2:
            raise ValueError(f"{name} must be an int >= 2, got {value!r}.")
    y, groups = _check_labels(y, groups)
    rng = check_random_state(random_state)
    queues = {}
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        if members.size >= 2:
            queues[label] = list(_spread_over_groups(members, groups, rng))
    if len(queues) < 2:
        raise ValueError(
            "balanced batches need at least two labels with two or more recordings each; "
            f"got label counts {dict(zip(*np.unique(y, return_counts=True), strict=True))}."
        )
    batches = []
    while len(queues) >= 2:
        labels = list(queues)
        weights = np.array([len(queues[label]) for label in labels], dtype=float)
        chosen = rng.choice(len(labels), size=min(labels_per_batch, len(labels)), replace=False,
                            p=weights / weights.sum())  # fmt: skip
        batch = []
        for k in chosen:
            queue = queues[labels[k]]
            batch.extend(queue[:samples_per_label])
            del queue[:samples_per_label]
            if len(queue) < 2:
                # a lone leftover cannot be an anchor: it joins this batch as an extra
                batch.extend(queue)
                del queues[labels[k]]
        batches.append(np.array(batch, dtype=np.intp))
    leftovers = [i for queue in queues.values() for i in queue]
    if leftovers:
        batches[-1] = np.concatenate([batches[-1], np.array(leftovers, dtype=np.intp)])
    return batches


def _spread_over_groups(members, groups, rng):
    """Shuffled members, interleaved across groups so consecutive ones differ in group."""
    members = rng.permutation(members)
    if groups is None:
        return members
    by_group = [members[groups[members] == g] for g in rng.permutation(np.unique(groups[members]))]
    longest = max(len(g) for g in by_group)
    return np.array([g[k] for k in range(longest) for g in by_group if k < len(g)])


def semi_hard_negatives(distances, y, *, margin, groups=None, across_groups=False):
    """Triplets (anchor, positive, negative) with semi-hard negatives.

    For each positive pair ``(a, p)`` of a batch, the negative is the closest
    ``n`` with ``d(a, p) < d(a, n) < d(a, p) + margin``; when no negative is
    semi-hard, the hardest (closest) negative of the anchor is used. Mining is
    meant to run on a distance matrix computed without gradients; the loss is
    then evaluated, with gradients, on the chosen pairs only.

    Parameters
    ----------
    distances : array-like of shape (B, B)
        Pairwise distances within the batch.
    y : array-like of shape (B,)
    margin : float
        The contrastive margin ``m`` (> 0).
    groups : array-like of shape (B,), optional
    across_groups : bool, default=False
        Positives only across different groups.

    Returns
    -------
    triplets : ndarray of shape (n_triplets, 3)
        Rows ``(a, p, n)``; anchors without any negative are skipped.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.pairs import semi_hard_negatives
    >>> D = np.array([[0., 1., 1.5, 5.], [1., 0., 4., 0.5], [1.5, 4., 0., 3.], [5., .5, 3., 0.]])
    >>> semi_hard_negatives(D, [0, 0, 1, 1], margin=1.0).tolist()
    [[0, 1, 2], [1, 0, 3], [2, 3, 0], [3, 2, 1]]
    """
    D = np.asarray(distances, dtype=float)
    y, groups = _check_labels(y, groups)
    if D.shape != (y.size, y.size):
        raise ValueError(f"distances must have shape ({y.size}, {y.size}), got {D.shape}.")
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin!r}.")
    if np.isnan(D).any():
        raise ValueError(
            "distances contain NaN; mining would silently skip those recordings. Check the "
            "encoded series for NaN (e.g. non-padding frames without data)."
        )
    anchors, positives = np.nonzero(_positive_mask(y, groups, across_groups))
    negative_distance = np.where(y[:, np.newaxis] != y[np.newaxis, :], D, np.inf)[anchors]
    has_negative = np.isfinite(negative_distance).any(axis=1)
    anchors, positives = anchors[has_negative], positives[has_negative]
    negative_distance = negative_distance[has_negative]
    d_ap = D[anchors, positives][:, np.newaxis]
    semi_hard = (negative_distance > d_ap) & (negative_distance < d_ap + margin)
    semi = np.where(semi_hard, negative_distance, np.inf)
    negatives = np.where(
        semi_hard.any(axis=1), semi.argmin(axis=1), negative_distance.argmin(axis=1)
    )
    return np.column_stack([anchors, positives, negatives]).astype(np.intp)


def triplets_to_pairs(triplets):
    """The distinct positive and negative pairs used by a set of triplets.

    Parameters
    ----------
    triplets : ndarray of shape (n_triplets, 3)

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2)
        Each unordered pair once, as ``(min, max)``.
    pair_labels : ndarray of shape (n_pairs,)

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.pairs import triplets_to_pairs
    >>> pairs, labels = triplets_to_pairs(np.array([[0, 1, 2], [1, 0, 2]]))
    >>> pairs.tolist(), labels.tolist()
    ([[0, 1], [0, 2], [1, 2]], [1, 0, 0])
    """
    triplets = np.asarray(triplets, dtype=np.intp).reshape(-1, 3)
    positive = np.sort(triplets[:, [0, 1]], axis=1)
    negative = np.sort(triplets[:, [0, 2]], axis=1)
    pairs = np.concatenate([positive, negative])
    labels = np.concatenate([np.ones(len(positive)), np.zeros(len(negative))]).astype(np.intp)
    pairs, first = np.unique(pairs, axis=0, return_index=True)
    return pairs, labels[first]
