"""SoftDTWPairClassifier: learning, pair predictions, calibration, persistence, resume."""

import pickle

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.metrics import brier_score_loss, roc_auc_score

from skheatmap.classifier import SoftDTWPairClassifier
from skheatmap.pairs import label_pairs
from skheatmap.softdtw import soft_dtw_divergence


def _segments(n_subjects=6, n_segments=3, T=40, channels=3, noise=0.3, seed=0):
    """Recordings that share a segment's shape up to noise and a subject-specific lag."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, T + 8)
    shapes = [np.stack([np.sin(2 * np.pi * (k + 1) * (c + 1) * t / 2 + k) for c in range(channels)],
                        axis=1) for k in range(n_segments)]  # fmt: skip
    X, y, groups = [], [], []
    for s in range(n_subjects):
        lag = rng.integers(0, 8)
        for k in range(n_segments):
            X.append(shapes[k][lag : lag + T] + noise * rng.normal(size=(T, channels)))
            y.append(k)
            groups.append(s)
    return np.array(X), np.array(y), np.array(groups)


@pytest.fixture(scope="module")
def data():
    return _segments()


@pytest.fixture(scope="module")
def fitted(data):
    X, y, groups = data
    return SoftDTWPairClassifier(max_epochs=6, random_state=0).fit(X[:12], y[:12], groups[:12])


def test_held_out_subjects_are_told_apart(fitted, data):
    X, y, _ = data
    assert fitted.score(X[12:], y[12:]) > 0.9


def test_training_loss_decreases(fitted):
    losses = [record["train_loss"] for record in fitted.history_]
    assert losses[-1] < losses[0]


def test_score_is_roc_auc_over_all_pairs(fitted, data):
    X, y, _ = data
    pairs, labels = label_pairs(y[12:])
    expected = roc_auc_score(labels, fitted.predict_pair_proba(X[12:], pairs)[:, 1])
    assert fitted.score(X[12:], y[12:]) == pytest.approx(expected)


def test_pair_probability_is_the_logistic_model_of_the_divergence(fitted, data):
    X, _, _ = data
    pairs = np.array([[0, 3], [1, 5], [2, 2]])
    module = fitted.module_
    Xs = (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)  # standardize=True
    d = soft_dtw_divergence(Xs[pairs[:, 0]], Xs[pairs[:, 1]], gamma=1.0, normalize=True)
    head = (module.alpha, module.log_w, module.log_tau)
    alpha, log_w, log_tau = (p.detach().item() for p in head)
    w_over_tau = np.exp(log_w - log_tau)
    expected = 1 / (1 + np.exp(-(alpha - w_over_tau * d)))
    np.testing.assert_allclose(fitted.predict_pair_proba(X, pairs)[:, 1], expected, rtol=1e-6)
    np.testing.assert_allclose(fitted.predict_pair_proba(X, pairs).sum(axis=1), 1.0)


def test_standardize_recordings_matches_numpy_and_keeps_padding():
    import torch

    from skheatmap._pair_module import standardize_recordings

    rng = np.random.default_rng(0)
    Z = rng.normal(size=(3, 10, 4)) * [1.0, 5.0, 0.1, 1.0] + 3.0
    Z[1, 7:] = np.nan  # padding frames
    Z[2, :, 3] = 2.5  # a constant channel
    out = standardize_recordings(torch.tensor(Z)).numpy()
    with np.errstate(invalid="ignore"):  # 0/0 on the constant channel, set below
        expected = (Z - np.nanmean(Z, axis=1, keepdims=True)) / np.nanstd(Z, axis=1, keepdims=True)
    expected[2, :, 3] = 0.0
    np.testing.assert_allclose(out, expected, atol=1e-12)  # NaN positions must match too


def test_standardize_passes_single_frames_and_gives_padding_no_gradient():
    import torch

    from skheatmap._pair_module import standardize_recordings

    single = torch.tensor([[[1.0, -2.0]]], dtype=torch.float64)
    np.testing.assert_array_equal(standardize_recordings(single).numpy(), single.numpy())
    Z = torch.tensor(np.random.default_rng(1).normal(size=(2, 6, 2)), requires_grad=True)
    padded = torch.where(torch.arange(6)[None, :, None] < 4, Z, torch.nan)
    out = standardize_recordings(padded)
    (out.nan_to_num() * torch.arange(12.0).reshape(6, 2)).sum().backward()
    assert torch.isfinite(Z.grad).all()
    assert (Z.grad[:, 4:] == 0).all()


def test_standardized_model_ignores_per_recording_gain_and_offset(fitted, data):
    X, _, _ = data
    rng = np.random.default_rng(2)
    gains = rng.uniform(0.5, 3.0, size=(len(X), 1, X.shape[2]))
    offsets = rng.normal(scale=10.0, size=(len(X), 1, X.shape[2]))
    pairs = np.array([[0, 1], [2, 7], [4, 15]])
    np.testing.assert_allclose(
        fitted.pair_decision_function(gains * X + offsets, pairs),
        fitted.pair_decision_function(X, pairs),
        rtol=1e-9,
    )


def test_predict_returns_the_label_of_the_closest_training_recording(fitted, data):
    X, y, _ = data
    np.testing.assert_array_equal(fitted.predict(X[:12]), y[:12])  # each matches itself
    assert np.mean(fitted.predict(X[12:]) == y[12:]) > 0.8


def test_calibration_improves_the_brier_score_on_its_pairs(data):
    X, y, groups = data
    clf = SoftDTWPairClassifier(max_epochs=2, random_state=0).fit(X[:9], y[:9], groups[:9])
    pairs, labels = label_pairs(y[9:])
    before = brier_score_loss(labels, clf.predict_pair_proba(X[9:], pairs)[:, 1])
    ranking = clf.pair_decision_function(X[9:], pairs)
    clf.calibrate_threshold(X[9:], pairs, labels)
    after = brier_score_loss(labels, clf.predict_pair_proba(X[9:], pairs)[:, 1])
    assert after <= before + 1e-12
    # Platt scaling is monotone: the ranking (and so the AUC) is unchanged
    assert roc_auc_score(labels, clf.pair_decision_function(X[9:], pairs)) == pytest.approx(
        roc_auc_score(labels, ranking)
    )
    accuracy = np.mean(clf.predict_pairs(X[9:], pairs) == labels)
    assert accuracy >= np.mean(labels == 0)  # at least the all-negative baseline


def test_same_random_state_same_model(data):
    X, y, groups = data
    a = SoftDTWPairClassifier(max_epochs=3, random_state=1).fit(X, y, groups)
    b = SoftDTWPairClassifier(max_epochs=3, random_state=1).fit(X, y, groups)
    assert a.history_ == b.history_
    for p, q in zip(a.module_.parameters(), b.module_.parameters(), strict=True):
        assert (p == q).all()


def test_pickle_and_clone(fitted, data):
    X, y, _ = data
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.pair_decision_function(X, [[0, 1], [2, 7]]),
                                  fitted.pair_decision_function(X, [[0, 1], [2, 7]]))
    assert not hasattr(clone(fitted), "module_")


def test_checkpoint_resume_equals_an_uninterrupted_fit(data, tmp_path):
    X, y, groups = data
    params = dict(max_epochs=4, n_iter_no_change=10, random_state=0)
    full = SoftDTWPairClassifier(**params).fit(X, y, groups)
    SoftDTWPairClassifier(**{**params, "max_epochs": 2}, checkpoint_dir=tmp_path).fit(X, y, groups)
    resumed = SoftDTWPairClassifier(**params, checkpoint_dir=tmp_path).fit(X, y, groups)
    assert [r["train_loss"] for r in resumed.history_] == [r["train_loss"] for r in full.history_]
    for p, q in zip(resumed.module_.parameters(), full.module_.parameters(), strict=True):
        assert (p == q).all()


def test_checkpoint_of_another_fit_is_refused(data, tmp_path):
    X, y, groups = data
    SoftDTWPairClassifier(max_epochs=1, checkpoint_dir=tmp_path).fit(X, y, groups)
    with pytest.raises(ValueError, match="written by a fit with other parameters or data"):
        SoftDTWPairClassifier(max_epochs=1, gamma=0.5, checkpoint_dir=tmp_path).fit(X, y, groups)


class _Projection(TransformerMixin, BaseEstimator):
    """A linear map of the channels with a torch twin: the smallest trainable encoder."""

    def __init__(self, n_components=2):
        self.n_components = n_components

    def fit(self, X, y=None):
        self.components_ = np.eye(X.shape[-1])[: self.n_components]
        return self

    def transform(self, X):
        return X @ self.components_.T

    def to_torch(self):
        import torch

        layer = torch.nn.Linear(self.components_.shape[1], self.n_components, bias=False)
        with torch.no_grad():
            layer.weight.copy_(torch.as_tensor(self.components_))
        return layer.double()

    def from_torch(self, module):
        self.components_ = module.weight.detach().cpu().numpy().astype(float)
        return self


def test_gradients_reach_the_encoder(data):
    X, y, groups = data
    clf = SoftDTWPairClassifier(encoder=_Projection(), max_epochs=2, encoder_lr=0.05,
                                random_state=0).fit(X, y, groups)  # fmt: skip
    trained = clf.module_.encoder[0].weight.detach().numpy()
    assert not np.allclose(trained, np.eye(3)[:2])  # moved away from its initial value
    # the fitted stage was updated to the trained weights: both faces agree
    np.testing.assert_allclose(clf.encoder_.components_, trained)
    np.testing.assert_allclose(clf.encode(X), clf.encoder_.transform(X), atol=1e-12)


def test_end_to_end_eigenfaces_stay_orthonormal_with_the_twin_option():
    from sklearn.pipeline import make_pipeline

    from skheatmap import HeatmapEmbedder
    from skheatmap.datasets import make_thermal_faces

    faces = make_thermal_faces(n_subjects=3, n_segments=2, n_frames=32, frame_shape=(12, 12),
                               random_state=0)  # fmt: skip
    encoder = make_pipeline(HeatmapEmbedder(method="eigenfaces", n_components=3))
    clf = SoftDTWPairClassifier(
        encoder=encoder, twin_options={"heatmapembedder": {"orthogonal": True}},
        encoder_lr=0.05, max_epochs=2, random_state=0,
    ).fit(faces.X, faces.y)  # fmt: skip
    components = clf.encoder_[0].components_
    assert not np.allclose(components, clone(encoder).fit(faces.X).steps[0][1].components_)
    np.testing.assert_allclose(components @ components.T, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(clf.encode(faces.X), clf.encoder_.transform(faces.X), atol=1e-8)


def test_twin_options_for_a_missing_step_are_refused(data):
    X, y, _ = data
    clf = SoftDTWPairClassifier(encoder=_Projection(), twin_options={"embed": {}}, max_epochs=1)
    with pytest.raises(ValueError, match=r"names step\(s\) \['embed'\].*\['encoder'\]"):
        clf.fit(X, y)


@pytest.mark.parametrize("objective", ["lagged_corr", "both"])
def test_soft_lag_objective_teaches_the_encoder_to_align_segments(data, objective):
    from skheatmap.lag import soft_lag_correlation

    X, y, groups = data
    X = X.copy()
    X[:, :, 0] = np.random.default_rng(5).normal(size=X.shape[:2])  # the start: pure noise
    pairs, labels = label_pairs(y, groups, across_groups=True)
    positives = pairs[labels == 1]

    def within_segment_correlation(Z):
        a, b = Z[positives[:, 0]], Z[positives[:, 1]]
        return soft_lag_correlation(a, b, max_lag=8, beta=10.0).mean()

    before = within_segment_correlation(_Projection(1).fit(X).transform(X))
    clf = SoftDTWPairClassifier(
        encoder=_Projection(1), objective=objective, lambda_energy=1.0, max_epochs=15,
        encoder_lr=0.05, random_state=0,
    ).fit(X, y, groups)  # fmt: skip
    assert within_segment_correlation(clf.encode(X)) > before + 0.3
    weights = np.abs(clf.encoder_.components_[0])
    assert weights[0] < weights[1:].min()  # the noise channel lost its weight


def test_encoder_without_torch_twin_is_refused(data):
    from sklearn.preprocessing import FunctionTransformer

    X, y, _ = data
    with pytest.raises(TypeError, match="has no to_torch or from_torch"):
        SoftDTWPairClassifier(encoder=FunctionTransformer(), max_epochs=1).fit(X, y)


def test_fit_pairs_learns_from_explicit_pairs(data):
    X, y, _ = data
    pairs, labels = label_pairs(y[:12])
    clf = SoftDTWPairClassifier(max_epochs=6, random_state=0).fit_pairs(X[:12], pairs, labels)
    assert clf.history_[-1]["train_loss"] < clf.history_[0]["train_loss"]
    assert clf.score(X[12:], y[12:]) > 0.9  # held-out subjects


def test_predict_after_fit_pairs_is_refused(data):
    X, y, _ = data
    pairs, labels = label_pairs(y[:6])
    clf = SoftDTWPairClassifier(max_epochs=1, random_state=0).fit_pairs(X[:6], pairs, labels)
    with pytest.raises(ValueError, match="fitted with fit_pairs"):
        clf.predict(X[:2])


def test_fit_pairs_needs_both_kinds_of_pair(data):
    X, _, _ = data
    with pytest.raises(ValueError, match="both matching"):
        SoftDTWPairClassifier(max_epochs=1).fit_pairs(X[:4], [[0, 1], [2, 3]], [1, 1])


def test_grid_search_over_a_pipeline_with_group_folds(data):
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y, groups = data
    classifier = SoftDTWPairClassifier(max_epochs=2, random_state=0)
    pipeline = make_pipeline(FunctionTransformer(), classifier)
    search = GridSearchCV(pipeline, {"softdtwpairclassifier__gamma": [0.1, 1.0]},
                          cv=GroupKFold(n_splits=3)).fit(X, y, groups=groups)  # fmt: skip
    assert search.cv_results_["mean_test_score"].shape == (2,)
    assert search.best_score_ > 0.8  # pair ROC AUC on held-out subjects
    assert search.best_estimator_.score(X, y) == pytest.approx(search.score(X, y))


def test_single_class_is_refused():
    with pytest.raises(ValueError, match="at least 2 classes"):
        SoftDTWPairClassifier().fit(np.zeros((4, 5, 2)), [1, 1, 1, 1])


def test_pairs_outside_the_data_are_refused(fitted, data):
    X, _, _ = data
    with pytest.raises(ValueError, match="but X has 18 recordings"):
        fitted.predict_pair_proba(X, [[0, 18]])


def test_groups_of_the_wrong_length_are_refused(data):
    X, y, groups = data
    with pytest.raises(ValueError, match="one group per recording"):
        SoftDTWPairClassifier(max_epochs=1).fit(X, y, groups[:-1])
