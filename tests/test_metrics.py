"""mean_correlation_coefficient against hand-computed values and brute-force matching."""

import itertools

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.utils._param_validation import InvalidParameterError

from skheatmap.metrics import mean_correlation_coefficient

A = np.array([1.0, 2.0, 3.0, 4.0])
B = np.array([1.0, -1.0, -1.0, 1.0])
# corr(A, C): A - 2.5 = (-1.5, -.5, .5, 1.5) and C - 2.5 = (-1.5, -.5, 1.5, .5), so
# dot = 2.25 + .25 + .75 + .75 = 4 and both norms are sqrt(5): exactly 0.8
C = np.array([1.0, 2.0, 4.0, 3.0])


def _brute_force_mcc(s_true, s_est):
    """Best mean |Pearson correlation| over every one-to-one matching (np.corrcoef oracle)."""
    K, L = s_true.shape[1], s_est.shape[1]
    corr = np.abs(np.corrcoef(s_true.T, s_est.T)[:K, K:])
    if K <= L:
        return max(np.mean(corr[range(K), list(p)]) for p in itertools.permutations(range(L), K))
    return max(np.mean(corr[list(p), range(L)]) for p in itertools.permutations(range(K), L))


def test_permuted_and_sign_flipped_sources_score_one():
    s = np.column_stack([A, B])
    assert mean_correlation_coefficient(s, np.column_stack([-3 * B, A + 7])) == pytest.approx(1.0)


def test_hand_computed_value_of_a_partial_match():
    # (A, C): 0.8 and (B, -B): 1 beat (A, -B): 0 and (B, C): 1/sqrt(5), so MCC = 0.9
    s_true, s_est = np.column_stack([A, B]), np.column_stack([-B, C])
    assert mean_correlation_coefficient(s_true, s_est) == pytest.approx(0.9, abs=1e-12)


@pytest.mark.parametrize("shape_est", [(200, 4), (200, 3), (200, 5)])
def test_matching_is_the_best_of_all_one_to_one_assignments(shape_est, global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    s_true = rng.normal(size=(200, 4))
    s_est = s_true[:, rng.permutation(4)[: min(4, shape_est[1])]] @ rng.normal(
        size=(min(4, shape_est[1]), shape_est[1])
    ) + rng.normal(size=shape_est)
    assert mean_correlation_coefficient(s_true, s_est) == pytest.approx(
        _brute_force_mcc(s_true, s_est), abs=1e-12
    )


def test_spearman_is_blind_to_monotone_distortions():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(300, 2))
    distorted = np.column_stack([np.exp(s[:, 1]), s[:, 0] ** 3])
    assert mean_correlation_coefficient(s, distorted, method="spearman") == pytest.approx(1.0)
    assert mean_correlation_coefficient(s, distorted) < 0.9


def test_spearman_matches_scipy_for_one_component():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(2, 100))
    expected = abs(spearmanr(x, y).statistic)
    assert mean_correlation_coefficient(
        x[:, None], y[:, None], method="spearman"
    ) == pytest.approx(expected, abs=1e-12)


def test_series_are_scored_on_all_their_frames():
    rng = np.random.default_rng(2)
    s_true, s_est = rng.normal(size=(2, 3, 10, 2))
    assert mean_correlation_coefficient(s_true, s_est) == pytest.approx(
        mean_correlation_coefficient(s_true.reshape(-1, 2), s_est.reshape(-1, 2)), abs=1e-15
    )


def test_samples_with_nan_are_left_out():
    rng = np.random.default_rng(3)
    s_true, s_est = rng.normal(size=(2, 50, 2))
    padded_est = np.vstack([s_est, np.full((5, 2), np.nan)])
    padded_true = np.vstack([s_true, rng.normal(size=(5, 2))])
    assert mean_correlation_coefficient(padded_true, padded_est) == pytest.approx(
        mean_correlation_coefficient(s_true, s_est), abs=1e-15
    )


def test_a_constant_estimate_counts_as_uncorrelated():
    s = np.column_stack([A, B])
    assert mean_correlation_coefficient(s, np.column_stack([A, np.ones(4)])) == pytest.approx(0.5)


def test_different_sample_counts_are_rejected():
    with pytest.raises(ValueError, match="s_true has 4 samples but s_est has 3"):
        mean_correlation_coefficient(np.ones((4, 2)), np.ones((3, 2)))


def test_one_dimensional_input_is_rejected():
    with pytest.raises(ValueError, match=r"s_true must have shape \(n_samples, n_components\)"):
        mean_correlation_coefficient(A, np.ones((4, 1)))


def test_too_few_complete_samples_are_rejected():
    s = np.array([[1.0], [np.nan], [2.0]])
    with pytest.raises(ValueError, match="only 1 sample"):
        mean_correlation_coefficient(s, np.array([[1.0], [2.0], [np.nan]]))


def test_unknown_method_is_rejected():
    with pytest.raises(InvalidParameterError, match="method"):
        mean_correlation_coefficient(np.ones((4, 1)), np.ones((4, 1)), method="kendall")
