"""SoftDTWPairClassifier: learning, pair predictions, calibration, persistence, resume."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.metrics import brier_score_loss, f1_score, log_loss, roc_auc_score

import skheatmap.classifier
from skheatmap.classifier import SoftDTWPairClassifier
from skheatmap.pairs import label_pairs
from skheatmap.softdtw import soft_dtw, soft_dtw_divergence, soft_dtw_pairwise


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


def _standardized(X):
    """Each channel of each recording centred and scaled, as ``standardize=True`` compares them."""
    return (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def fitted(data):
    X, y, groups = data
    return SoftDTWPairClassifier(max_epochs=6, random_state=0).fit(X[:12], y[:12], groups[:12])


@pytest.fixture(scope="module")
def untrained(data):
    X, y, groups = data
    return SoftDTWPairClassifier(max_epochs=0, random_state=0).fit(X[:12], y[:12], groups[:12])


def test_head_training_calibrates_held_out_pairs_without_changing_their_ranking(
    fitted, untrained, data
):
    # without an encoder only the head σ(α − w·d/τ) trains: a monotone map of d
    X, y, _ = data
    pairs, labels = label_pairs(y[12:])
    before = log_loss(labels, untrained.predict_pair_proba(X[12:], pairs)[:, 1])
    after = log_loss(labels, fitted.predict_pair_proba(X[12:], pairs)[:, 1])
    assert after < 0.8 * before  # measured: 0.56 -> 0.29
    assert fitted.score(X[12:], y[12:]) == pytest.approx(untrained.score(X[12:], y[12:]))


def test_training_loss_decreases(fitted):
    losses = [record["train_loss"] for record in fitted.history_]
    assert losses[-1] < losses[0]


def _with_noise_channels(n_noise=2, seed=1):
    """``_segments`` after ``n_noise`` leading channels of pure noise, 8 subjects."""
    X, y, groups = _segments(n_subjects=8, T=32, seed=seed)
    noise = np.random.default_rng(seed + 10).normal(size=(*X.shape[:2], n_noise))
    return np.concatenate([noise, X], axis=2), y, groups


@pytest.fixture(scope="module")
def projection_fits():
    """A projection that starts on the noise channels, untrained and trained; 4 subjects each."""
    X, y, groups = _with_noise_channels()
    train = groups < 4

    def fit(max_epochs):
        clf = SoftDTWPairClassifier(encoder=_Projection(2), encoder_lr=0.1,
                                    max_epochs=max_epochs, random_state=0)  # fmt: skip
        return clf.fit(X[train], y[train], groups[train])

    return fit(0), fit(10), (X[~train], y[~train])


def test_training_the_encoder_lifts_held_out_auc_from_chance(projection_fits):
    untrained, trained, (X, y) = projection_fits
    before, after = untrained.score(X, y), trained.score(X, y)
    assert before < 0.65  # the initial projection sees only noise (measured 0.53)
    assert after > before + 0.3  # measured 0.99 to 1.0 over random_state 0-3


def test_training_the_encoder_makes_predict_right_on_held_out_subjects(projection_fits):
    untrained, trained, (X, y) = projection_fits
    assert np.mean(untrained.predict(X) == y) < 0.5  # chance is 1/3 (measured 0.17)
    assert np.mean(trained.predict(X) == y) > 0.9  # measured 1.0


def test_trained_projection_weighs_the_informative_channels(projection_fits):
    _, trained, _ = projection_fits
    weights = np.abs(trained.encoder_.components_)
    assert weights[:, 2:].sum() > 2 * weights[:, :2].sum()  # channels 0-1 are noise


def test_score_is_roc_auc_over_all_pairs(fitted, data):
    X, y, _ = data
    pairs, labels = label_pairs(y[12:])
    expected = roc_auc_score(labels, fitted.predict_pair_proba(X[12:], pairs)[:, 1])
    assert fitted.score(X[12:], y[12:]) == pytest.approx(expected)


def _head(clf):
    return (p.detach().item() for p in (clf.module_.alpha, clf.module_.log_w, clf.module_.log_tau))


@pytest.mark.parametrize(
    ("distance", "normalize", "oracle"),
    [("divergence", True, soft_dtw_divergence), ("divergence", False, soft_dtw_divergence),
     ("soft_dtw", True, soft_dtw), ("soft_dtw", False, soft_dtw)],
)  # fmt: skip
def test_pair_probability_is_the_logistic_model_of_the_distance(data, distance, normalize, oracle):
    X, y, groups = data
    clf = SoftDTWPairClassifier(distance=distance, normalize=normalize, max_epochs=2,
                                random_state=0).fit(X[:9], y[:9], groups[:9])  # fmt: skip
    pairs = np.array([[0, 3], [1, 5], [2, 2]])
    Xs = _standardized(X)
    d = oracle(Xs[pairs[:, 0]], Xs[pairs[:, 1]], gamma=1.0, normalize=normalize)
    alpha, log_w, log_tau = _head(clf)
    expected = 1 / (1 + np.exp(-(alpha - np.exp(log_w - log_tau) * d)))
    np.testing.assert_allclose(clf.predict_pair_proba(X, pairs)[:, 1], expected, rtol=1e-6)
    np.testing.assert_allclose(clf.predict_pair_proba(X, pairs).sum(axis=1), 1.0)


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
    Xs = _standardized(X)
    D = soft_dtw_pairwise(Xs[12:], Xs[:12], gamma=1.0, normalize=True)
    np.testing.assert_array_equal(fitted.predict(X[12:]), y[:12][D.argmin(axis=1)])
    np.testing.assert_array_equal(fitted.predict(X[:12]), y[:12])  # each matches itself


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


def _batch_draws(monkeypatch, fit):
    """The options of each epoch's draw of balanced batches during ``fit()``, and its result.

    One draw per epoch trained in this process: their number counts the epochs.
    """
    draws = []
    draw = skheatmap.classifier.balanced_batches

    def recording(*args, **kwargs):
        draws.append(kwargs)
        return draw(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(skheatmap.classifier, "balanced_batches", recording)
        result = fit()
    return draws, result


def test_checkpoint_resume_runs_only_the_missing_epochs_to_the_uninterrupted_result(
    data, tmp_path, monkeypatch
):
    X, y, groups = data
    params = dict(max_epochs=4, n_iter_no_change=10, random_state=0)
    full = SoftDTWPairClassifier(**params).fit(X, y, groups)
    SoftDTWPairClassifier(**{**params, "max_epochs": 2}, checkpoint_dir=tmp_path).fit(X, y, groups)
    resumable = SoftDTWPairClassifier(**params, checkpoint_dir=tmp_path)
    draws, resumed = _batch_draws(monkeypatch, lambda: resumable.fit(X, y, groups))
    assert len(draws) == 2  # epochs 3 and 4; the first two come from the checkpoint
    assert resumed.history_ == full.history_
    for p, q in zip(resumed.module_.parameters(), full.module_.parameters(), strict=True):
        assert (p == q).all()


def test_cross_validation_fits_share_a_checkpoint_dir(data, tmp_path, monkeypatch):
    from sklearn.model_selection import GroupKFold, cross_val_score

    X, y, groups = data
    clf = SoftDTWPairClassifier(max_epochs=2, random_state=0, checkpoint_dir=str(tmp_path))

    def cross_validate():
        return cross_val_score(clf, X, y, groups=groups, cv=GroupKFold(n_splits=3))

    first_draws, first = _batch_draws(monkeypatch, cross_validate)
    assert len(list(tmp_path.glob("pair_classifier-*.pt"))) == 3  # one per fold
    again_draws, again = _batch_draws(monkeypatch, cross_validate)
    assert len(first_draws) == 6  # 3 folds x 2 epochs
    assert len(again_draws) == 0  # the second run resumes three finished fits
    np.testing.assert_array_equal(again, first)


def test_encoders_differing_deep_inside_keep_separate_checkpoints(data, tmp_path):
    from sklearn.pipeline import make_pipeline

    X, y, groups = data
    a = make_pipeline(*[_Projection(3) for _ in range(20)])
    b = clone(a).set_params(**{"_projection-10__scale": 2.0})
    assert repr(a) == repr(b)  # scikit-learn shortens the repr of long pipelines
    for encoder in (a, b):
        SoftDTWPairClassifier(encoder=encoder, max_epochs=1, random_state=0,
                              checkpoint_dir=tmp_path).fit(X, y, groups)  # fmt: skip
    assert len(list(tmp_path.glob("pair_classifier-*.pt"))) == 2


def test_checkpoint_file_of_another_fit_is_refused(data, tmp_path):
    X, y, groups = data
    SoftDTWPairClassifier(max_epochs=1, checkpoint_dir=tmp_path).fit(X, y, groups)
    (mine,) = tmp_path.glob("pair_classifier-*.pt")
    other = tmp_path / "other"
    SoftDTWPairClassifier(max_epochs=1, gamma=0.5, checkpoint_dir=other).fit(X, y, groups)
    (theirs,) = other.glob("pair_classifier-*.pt")
    theirs.replace(mine)  # a file under this fit's name, written by another fit
    with pytest.raises(ValueError, match="written by a fit with other parameters or data"):
        SoftDTWPairClassifier(max_epochs=1, checkpoint_dir=tmp_path).fit(X, y, groups)


class _Projection(TransformerMixin, BaseEstimator):
    """A linear map of the channels with a torch twin: the smallest trainable encoder."""

    def __init__(self, n_components=2, scale=1.0):
        self.n_components = n_components
        self.scale = scale

    def fit(self, X, y=None):
        self.components_ = self.scale * np.eye(X.shape[-1])[: self.n_components]
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


def test_end_to_end_ica_unmixing_stays_a_rotation_with_the_twin_option():
    from sklearn.pipeline import make_pipeline

    from skheatmap.ica import NonlinearICAEncoder

    rng = np.random.default_rng(0)
    X, y, groups = rng.laplace(size=(12, 60, 4)), np.repeat([0, 1, 2], 4), np.tile(np.arange(4), 3)
    encoder = make_pipeline(NonlinearICAEncoder(
        objective="tcl", segment_length=20, n_components=3, max_epochs=2,
        hidden_layer_sizes=(8,), random_state=0,
    ))  # fmt: skip
    clf = SoftDTWPairClassifier(
        encoder=encoder, twin_options={"nonlinearicaencoder": {"orthogonal": True}},
        max_epochs=3, random_state=0,
    ).fit(X, y, groups)  # fmt: skip
    ica = clf.encoder_[-1]
    unmixing = ica.module_.unmixing.weight.detach().numpy()
    assert not np.allclose(unmixing, ica.ica_.components_)  # trained end to end
    # still FastICA's form: unit-variance scales times a rotation of the whitened features
    scaled_rotation = unmixing @ np.linalg.pinv(ica.ica_.whitening_)
    rotation = scaled_rotation / np.linalg.norm(scaled_rotation, axis=1, keepdims=True)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(clf.encode(X), ica.transform(X), atol=1e-10)


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
        encoder=_Projection(1), objective=objective, max_epochs=15,
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


def test_fit_pairs_teaches_the_encoder_from_explicit_pairs():
    X, y, groups = _with_noise_channels()
    train = groups < 4
    pairs, labels = label_pairs(y[train])

    def fit(max_epochs):
        clf = SoftDTWPairClassifier(encoder=_Projection(2), encoder_lr=0.1,
                                    max_epochs=max_epochs, random_state=0)  # fmt: skip
        return clf.fit_pairs(X[train], pairs, labels)

    untrained, trained = fit(0), fit(10)
    before, after = untrained.score(X[~train], y[~train]), trained.score(X[~train], y[~train])
    assert after > before + 0.3  # held-out subjects; measured 0.53 -> 1.0
    assert trained.history_[-1]["train_loss"] < trained.history_[0]["train_loss"]


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


def test_grid_search_runs_over_a_pipeline_with_group_folds(data):
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y, groups = data
    classifier = SoftDTWPairClassifier(max_epochs=2, random_state=0)
    pipeline = make_pipeline(FunctionTransformer(), classifier)
    search = GridSearchCV(pipeline, {"softdtwpairclassifier__gamma": [0.1, 1.0]},
                          cv=GroupKFold(n_splits=3)).fit(X, y, groups=groups)  # fmt: skip
    assert search.cv_results_["mean_test_score"].shape == (2,)
    assert search.best_score_ > 0.8  # a pair ROC AUC of held-out subjects, not an accuracy
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


def test_score_refuses_labels_of_another_length(fitted, data):
    X, y, _ = data
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        fitted.score(X, y[:6])


def test_batch_objective_is_the_seeds_divided_by_the_number_of_pairs(data):
    X, y, groups = data
    weights = dict(lambda_ce=0.7, lambda_ctr=0.3, negative_weight=2.0, margin=1.5,
                   lambda_reg=0.5, lambda_smooth=0.2, lambda_sparse=0.1)  # fmt: skip
    clf = SoftDTWPairClassifier(max_epochs=1, random_state=0, **weights).fit(X, y, groups)
    pairs, labels = label_pairs(y[:6])
    Xs = _standardized(X[:6])
    d = soft_dtw_divergence(Xs[pairs[:, 0]], Xs[pairs[:, 1]], gamma=1.0, normalize=True)
    alpha, log_w, log_tau = _head(clf)
    p = 1 / (1 + np.exp(-(alpha - np.exp(log_w - log_tau) * d)))
    L_ce = -np.sum(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    m = 1.5 * clf.module_.distance_scale.item()
    L_ctr = np.sum(d[labels == 1]) + 2.0 * np.sum(np.maximum(0.0, m - d[labels == 0]))
    steps = np.diff(X[:6], axis=1)  # the trajectories of encoder=None are the recordings
    R = 0.2 * np.mean(np.sum(steps**2, axis=(1, 2))) + 0.1 * np.mean(np.abs(steps).sum(axis=(1, 2)))
    expected = (0.7 * L_ce + 0.3 * L_ctr) / len(labels) + 0.5 * R
    with torch.no_grad():
        got = clf._objective(clf.module_, torch.tensor(X[:6]), (pairs, labels), pairs[labels == 0])
    assert clf.margin_ == pytest.approx(m)
    assert got.item() == pytest.approx(expected, rel=1e-10)


def _energy(Z):
    return np.mean(np.sum(Z**2, axis=2))


def test_energy_floor_keeps_the_correlation_objective_from_collapsing(data):
    # the soft-lag correlation is blind to scale, so the smoothness penalty alone
    # shrinks the encoder towards zero
    X, y, groups = data

    def energy_after_training(**guard):
        clf = SoftDTWPairClassifier(
            encoder=_Projection(1), objective="lagged_corr", lambda_smooth=1.0, energy_epsilon=0.1,
            encoder_lr=0.1, max_epochs=30, validation_fraction=0.0, n_iter_no_change=30,
            random_state=0, **guard,
        ).fit(X, y, groups)  # fmt: skip
        return _energy(clf.encode(X))

    assert _energy(X[:, :, :1]) > 0.5  # the initial projection
    assert energy_after_training(energy_floor=False) < 0.01  # collapsed (measured 0.0007)
    assert energy_after_training() > 0.05  # the default floor holds it near ε (measured 0.065)


def test_batch_size_sets_the_labels_per_balanced_batch(data, monkeypatch):
    X, y, groups = data
    clf = SoftDTWPairClassifier(batch_size=7, samples_per_label=3, max_epochs=1, random_state=0)
    (draw,), _ = _batch_draws(monkeypatch, lambda: clf.fit(X, y, groups))
    assert (draw["labels_per_batch"], draw["samples_per_label"]) == (2, 3)  # 7 // 3 labels


def test_batch_size_too_small_for_two_labels_is_refused(data):
    X, y, _ = data
    with pytest.raises(ValueError, match=r"batch_size=5 cannot hold 2 labels.*batch_size >= 6"):
        SoftDTWPairClassifier(batch_size=5, samples_per_label=3, max_epochs=1).fit(X, y)


def test_fit_pairs_takes_batch_size_pairs_per_step(data, monkeypatch):
    X, y, _ = data
    pairs, labels = label_pairs(y)  # 153 pairs
    sizes = []
    batch_loss = SoftDTWPairClassifier._pair_batch_loss

    def recording(self, batch_pairs, batch_labels):
        sizes.append(len(batch_labels))
        return batch_loss(self, batch_pairs, batch_labels)

    monkeypatch.setattr(SoftDTWPairClassifier, "_pair_batch_loss", recording)
    SoftDTWPairClassifier(batch_size=50, validation_fraction=0.0, max_epochs=1,
                          random_state=0).fit_pairs(X, pairs, labels)  # fmt: skip
    assert sizes == [50, 50, 50, 3]


def test_held_out_recordings_are_whole_subjects(data):
    X, y, groups = data
    train, val = SoftDTWPairClassifier(random_state=0)._validation_split(y, groups)
    assert set(groups[val]).isdisjoint(groups[train])
    assert len(set(groups[val])) == 2  # ceil(0.2 * 6) subjects, at least 2
    assert sorted(np.concatenate([train, val])) == list(range(len(y)))


def test_early_stopping_keeps_the_best_epoch(data):
    X, y, groups = data
    params = dict(lr=0.5, n_iter_no_change=2, random_state=0)
    stopped = SoftDTWPairClassifier(max_epochs=30, **params).fit(X, y, groups)
    val_losses = [record["val_loss"] for record in stopped.history_]
    assert len(stopped.history_) == stopped.best_epoch_ + 2 < 30
    assert stopped.best_epoch_ == int(np.argmin(val_losses)) + 1
    # the kept model is the one of the best epoch: a fit that ends there
    shorter = SoftDTWPairClassifier(max_epochs=stopped.best_epoch_, **params).fit(X, y, groups)
    np.testing.assert_array_equal(
        stopped.pair_decision_function(X, [[0, 1], [0, 4]]),
        shorter.pair_decision_function(X, [[0, 1], [0, 4]]),
    )


def test_held_out_pairs_follow_the_across_groups_rule(data):
    X, y, groups = data
    duplicated = np.concatenate([groups, groups])  # each subject sees each segment twice
    y2 = np.concatenate([y, y])
    clf = SoftDTWPairClassifier(across_groups=True, random_state=0)
    _, val = clf._validation_split(y2, duplicated)
    pairs, labels = clf._label_pairs(y2, duplicated, val)
    positives = val[pairs[labels == 1]]
    assert len(positives) and (duplicated[positives[:, 0]] != duplicated[positives[:, 1]]).all()


@pytest.mark.parametrize("across_groups", [False, True])
def test_across_groups_mines_only_cross_subject_positives(data, monkeypatch, across_groups):
    X, y, groups = (part[:6] for part in data)  # two subjects, who see each segment twice
    X2 = np.concatenate([X, X + 0.1 * np.random.default_rng(3).normal(size=X.shape)])
    y2, groups2 = np.concatenate([y, y]), np.concatenate([groups, groups])
    same_subject = []
    original = skheatmap.classifier.semi_hard_negatives

    def spy(D, y_batch, **kwargs):
        triplets = original(D, y_batch, **kwargs)
        batch_groups = kwargs["groups"]
        same_subject.append(np.sum(batch_groups[triplets[:, 0]] == batch_groups[triplets[:, 1]]))
        return triplets

    monkeypatch.setattr(skheatmap.classifier, "semi_hard_negatives", spy)
    SoftDTWPairClassifier(across_groups=across_groups, max_epochs=1,
                          random_state=0).fit(X2, y2, groups2)  # fmt: skip
    assert (sum(same_subject) == 0) == across_groups


def test_across_groups_without_groups_is_refused(data):
    X, y, _ = data
    with pytest.raises(ValueError, match=r"across_groups=True needs .*groups=subjects"):
        SoftDTWPairClassifier(across_groups=True, max_epochs=1).fit(X, y)


def test_verbose_prints_one_progress_line_per_epoch(data, capsys):
    X, y, groups = data
    clf = SoftDTWPairClassifier(max_epochs=2, verbose=1, random_state=0).fit(X, y, groups)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for line, record in zip(lines, clf.history_, strict=True):
        assert f"epoch {record['epoch']}/2 train {record['train_loss']:.4f}" in line
        assert f"val {record['val_loss']:.4f} auc {record['val_auc']:.3f}" in line


def test_learn_gamma_trains_gamma_along_its_gradient(data):
    X, y, groups = data
    fixed = SoftDTWPairClassifier(max_epochs=2, random_state=0).fit(X, y, groups)
    learned = SoftDTWPairClassifier(learn_gamma=True, max_epochs=2, random_state=0)
    learned.fit(X, y, groups)
    assert fixed.module_.log_gamma.item() == 0.0
    assert abs(learned.module_.log_gamma.item()) > 1e-3  # γ = 1 moved
    # the gradient that moved it is the derivative of the distances in log γ
    module, Z, pairs = learned.module_, torch.tensor(X[:6]), np.array([[0, 1], [0, 4], [2, 5]])
    module.zero_grad()
    module.pair_distances(Z, pairs).sum().backward()
    step, log_gamma = 1e-5, module.log_gamma.item()
    with torch.no_grad():
        values = []
        for shifted in (log_gamma + step, log_gamma - step):
            module.log_gamma.fill_(shifted)
            values.append(module.pair_distances(Z, pairs).sum().item())
        module.log_gamma.fill_(log_gamma)
    finite_difference = (values[0] - values[1]) / (2 * step)
    assert module.log_gamma.grad.item() == pytest.approx(finite_difference, rel=1e-5)


def test_f1_threshold_maximises_f1_on_the_calibration_pairs(data):
    X, y, groups = data
    clf = SoftDTWPairClassifier(max_epochs=2, random_state=0).fit(X[:9], y[:9], groups[:9])
    pairs, labels = label_pairs(y[9:])
    clf.calibrate_threshold(X[9:], pairs, labels, strategy="f1")
    proba = clf.predict_pair_proba(X[9:], pairs)[:, 1]
    best = max(f1_score(labels, proba >= t) for t in np.unique(proba))
    assert f1_score(labels, clf.predict_pairs(X[9:], pairs)) == pytest.approx(best)


def test_unknown_calibration_strategy_is_refused(fitted, data):
    X, y, _ = data
    pairs, labels = label_pairs(y)
    with pytest.raises(ValueError, match="strategy must be 'accuracy' or 'f1', got 'auc'"):
        fitted.calibrate_threshold(X, pairs, labels, strategy="auc")


def test_rank_roc_auc_equals_sklearn_with_ties_and_one_class():
    from skheatmap.classifier import _rank_roc_auc

    rng = np.random.default_rng(0)
    for _ in range(20):
        labels = rng.integers(0, 2, size=40)
        scores = rng.integers(0, 6, size=40).astype(float)  # many ties
        assert _rank_roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores),
                                                             abs=1e-15)  # fmt: skip
    assert np.isnan(_rank_roc_auc(np.ones(5), np.arange(5.0)))
