"""Gumbel-Softmax relaxation of a categorical axis: the choice, its twin, and branch selection."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from skheatmap import HeatmapEmbedder
from skheatmap.classifier import SoftDTWPairClassifier
from skheatmap.search import GumbelSoftmaxChoice, relaxed_axis_selection

torch = pytest.importorskip("torch")

METHODS = ["percentiles", "histogram", "eigenfaces"]


def moving_blob_recordings(n_per_label=6, n_frames=16, size=10, noise=0.01, seed=0):
    """A warm blob moving vertically (label 0) or horizontally (label 1) on a flat face.

    Integer shifts of a blob that stays inside the frame keep the multiset of
    pixel values: percentiles and histograms see only the noise, while
    eigenfaces see where the blob is. Eigenfaces is the one right branch.
    """
    rng = np.random.default_rng(seed)
    blob = np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]])
    X, y = [], []
    for label in (0, 1):
        for _ in range(n_per_label):
            phase = rng.integers(n_frames)
            frames = np.full((n_frames, size, size), 30.0)
            for t in range(n_frames):
                offset = int(round(2.5 * np.sin(2 * np.pi * (t + phase) / n_frames)))
                row, col = (3 + offset, 3) if label == 0 else (3, 3 + offset)
                frames[t, row + 1 : row + 4, col + 1 : col + 4] += blob
            X.append(frames + noise * rng.normal(size=frames.shape))
            y.append(label)
    return np.array(X), np.array(y)


def embedder():
    return HeatmapEmbedder(n_components=4, bins=4, percentiles=(5, 25, 75, 95))


@pytest.fixture(scope="module")
def blobs():
    return moving_blob_recordings()


@pytest.fixture
def choice(blobs):
    X, _ = blobs
    candidates = [(m, embedder().set_params(method=m)) for m in ["moments", "percentiles"]]
    return GumbelSoftmaxChoice(candidates).fit(X)


def test_transform_is_the_standardized_argmax_candidate(choice, blobs):
    X, _ = blobs
    choice.logits_ = np.array([0.0, 1.0])  # percentiles
    channels = embedder().fit_transform(X)
    frames = channels.reshape(-1, channels.shape[-1])
    expected = (channels - frames.mean(axis=0)) / frames.std(axis=0)
    padded = np.concatenate([expected, np.zeros((*expected.shape[:2], 5))], axis=-1)
    np.testing.assert_allclose(choice.transform(X), padded, atol=1e-10)
    assert choice.selected_ == "percentiles"


def test_channels_constant_up_to_round_off_become_zero():
    X = np.full((3, 5, 4, 4), 30.0)
    X[..., 0, 0] += 1e-14 * np.arange(5)  # the warmest pixel varies by round-off only
    candidates = [("max", HeatmapEmbedder(percentiles=[100])),
                  ("median", HeatmapEmbedder(percentiles=[50]))]  # fmt: skip
    choice = GumbelSoftmaxChoice(candidates).fit(X)
    # standardising would have turned the 1e-14 wiggle into values of order 1
    np.testing.assert_allclose(choice.transform(X), 0.0, atol=1e-12)


def test_twin_in_eval_mode_equals_transform(choice, blobs):
    X, _ = blobs
    choice.logits_ = np.array([0.3, -0.2])
    twin = choice.to_torch().eval()
    np.testing.assert_allclose(twin(torch.from_numpy(X)).detach().numpy(), choice.transform(X),
                               atol=1e-10)  # fmt: skip


def test_straight_through_is_one_hot_forward_with_the_relaxed_gradient():
    from skheatmap.search._relaxation_torch import gumbel_softmax

    logits = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    values = torch.tensor([3.0, -2.0, 1.0], dtype=torch.float64)
    torch.manual_seed(0)
    hard = gumbel_softmax(logits, 0.7, straight_through=True)
    (gradient_hard,) = torch.autograd.grad((hard * values).sum(), logits)
    torch.manual_seed(0)  # the same Gumbel noise
    soft = gumbel_softmax(logits, 0.7, straight_through=False)
    (gradient_soft,) = torch.autograd.grad((soft * values).sum(), logits)
    assert sorted(hard.detach().tolist()) == [0.0, 0.0, 1.0]
    assert int(hard.argmax()) == int(soft.argmax())
    torch.testing.assert_close(gradient_hard, gradient_soft)


def test_from_torch_takes_the_trained_logits_back(choice):
    twin = choice.to_torch()
    with torch.no_grad():
        twin.logits.copy_(torch.tensor([-1.0, 2.0]))
    choice.from_torch(twin)
    np.testing.assert_array_equal(choice.logits_, [-1.0, 2.0])
    np.testing.assert_allclose(choice.probabilities_, np.exp([-1, 2]) / np.exp([-1, 2]).sum())


def test_twin_candidates_are_frozen(choice):
    twin = choice.to_torch()
    trainable = [name for name, p in twin.named_parameters() if p.requires_grad]
    assert trainable == ["logits"]


def test_a_single_candidate_is_rejected(blobs):
    with pytest.raises(ValueError, match="at least 2 candidates"):
        GumbelSoftmaxChoice([("a", HeatmapEmbedder())]).fit(blobs[0])


def test_axis_of_the_classifier_is_rejected(blobs):
    pipe = make_pipeline(embedder(), SoftDTWPairClassifier())
    with pytest.raises(ValueError, match="transformer steps"):
        relaxed_axis_selection(pipe, "softdtwpairclassifier__objective", *blobs, values=["dtw"])


def test_relaxation_selects_the_informative_embedding(blobs):
    X, y = blobs
    pipe = make_pipeline(embedder(), SoftDTWPairClassifier(
        max_epochs=10, validation_fraction=0.0, mining="all", n_iter_no_change=10,
        labels_per_batch=2, samples_per_label=3, random_state=0,
    ))  # fmt: skip
    result = relaxed_axis_selection(pipe, "heatmapembedder__method", X, y, values=METHODS,
                                    encoder_lr=0.2, n_reevaluate=2, cv=2)  # fmt: skip
    assert result.relaxed_choice == "eigenfaces"
    assert result.probabilities[METHODS.index("eigenfaces")] > 0.5
    assert list(result.reevaluation["value"])[0] == "eigenfaces"
    assert result.best_value == "eigenfaces"
