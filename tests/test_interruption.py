"""Interruption: a training process killed mid-way resumes to the result of an
uninterrupted run with the same random_state.

Each test starts the training in a subprocess, freezes it at a chosen
optimiser step (mid-epoch, after at least one checkpoint was written), kills it
with SIGKILL, and resumes in this process.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skheatmap import HeatmapEmbedder
from skheatmap.classifier import SoftDTWPairClassifier
from skheatmap.datasets import make_thermal_faces
from skheatmap.ica import NonlinearICAEncoder
from skheatmap.persistence import load

pytestmark = pytest.mark.skipif(os.name != "posix", reason="kills a subprocess with SIGKILL")

CLASSIFIER = SoftDTWPairClassifier(
    labels_per_batch=2, samples_per_label=2, max_epochs=5, n_iter_no_change=10, random_state=0
)
ENCODER = NonlinearICAEncoder(
    objective="pcl", hidden_layer_sizes=(8,), batch_size=16, n_jobs=1, random_state=0
)
N_ENCODER_EPOCHS = 4

# Freezes the process at optimiser step ``freeze_at`` and says so on stdout.
_FREEZE = """
import sys, time
import numpy as np
import torch

_adam_step = torch.optim.Adam.step
_steps = [0]


def _step(self, *args, **kwargs):
    _steps[0] += 1
    if _steps[0] == {freeze_at}:
        print("FROZEN", flush=True)
        time.sleep(600)
    return _adam_step(self, *args, **kwargs)


torch.optim.Adam.step = _step
data = np.load(sys.argv[1])
"""


def _run_until_frozen_then_kill(tmp_path, body, freeze_at, data):
    """Run ``body`` in a subprocess, kill it at optimiser step ``freeze_at``."""
    np.savez(tmp_path / "data.npz", **data)
    script = textwrap.dedent(_FREEZE).format(freeze_at=freeze_at) + textwrap.dedent(body)
    command = [sys.executable, "-c", script, str(tmp_path / "data.npz")]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            line = process.stdout.readline()
        finally:
            process.send_signal(signal.SIGKILL)
            _, errors = process.communicate(timeout=60)
    assert line.strip() == "FROZEN", errors
    assert process.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def channels():
    faces = make_thermal_faces(
        n_subjects=4, n_segments=3, n_frames=32, frame_shape=(8, 8), random_state=0
    )
    return HeatmapEmbedder(method="moments").fit_transform(faces.X), faces.y


def _count_optimiser_steps(monkeypatch, fit):
    """Adam steps taken by ``fit()``, and its result."""
    steps = [0]
    adam_step = torch.optim.Adam.step

    def counting(self, *args, **kwargs):
        steps[0] += 1
        return adam_step(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(torch.optim.Adam, "step", counting)
        result = fit()
    return steps[0], result


def _classifier_outcome(clf, X):
    pairs = np.array([[0, 1], [0, 5], [2, 7], [3, 4]])
    # JSON, so that the NaN validation scores compare equal
    return json.dumps(clf.history_), clf.best_epoch_, clf.predict_pair_proba(X, pairs).tobytes()


def test_classifier_killed_mid_epoch_resumes_to_the_uninterrupted_result(
    channels, tmp_path, monkeypatch
):
    X, y = channels
    checkpoints = tmp_path / "checkpoints"
    body = f"""
    from skheatmap.classifier import SoftDTWPairClassifier
    clf = SoftDTWPairClassifier(**{CLASSIFIER.get_params()!r}).set_params(
        checkpoint_dir={str(checkpoints)!r})
    clf.fit(data["X"], data["y"])
    """
    # 12 recordings in batches of 2 x 2: 3 steps per epoch, so step 8 is inside epoch 3
    _run_until_frozen_then_kill(tmp_path, body, freeze_at=8, data={"X": X, "y": y})
    (checkpoint,) = checkpoints.glob("pair_classifier-*.pt")
    saved = torch.load(checkpoint, weights_only=True)
    assert len(json.loads(saved["history"])) == 2  # killed inside epoch 3

    resumable = clone(CLASSIFIER).set_params(checkpoint_dir=str(checkpoints))
    n_resumed, resumed = _count_optimiser_steps(monkeypatch, lambda: resumable.fit(X, y))
    n_all, uninterrupted = _count_optimiser_steps(monkeypatch, lambda: clone(CLASSIFIER).fit(X, y))
    n_saved, _ = _count_optimiser_steps(
        monkeypatch, lambda: clone(CLASSIFIER).set_params(max_epochs=2).fit(X, y)
    )
    # the resumed fit redoes only epochs 3 to 5: the steps of epochs 1-2 are skipped
    assert n_resumed == n_all - n_saved
    assert len(uninterrupted.history_) == CLASSIFIER.max_epochs
    assert _classifier_outcome(resumed, X) == _classifier_outcome(uninterrupted, X)


@pytest.mark.slow
def test_encoder_trained_epoch_by_epoch_resumes_from_its_last_safe_save(tmp_path):
    # the manual alternative to checkpoint_dir (tested below): partial_fit, one
    # epoch per call, and skheatmap.persistence.save after each epoch
    rng = np.random.default_rng(0)
    X = np.tanh(rng.laplace(size=(2, 120, 3)) @ rng.normal(size=(3, 3)))
    archive = tmp_path / "encoder.skh"
    body = f"""
    from skheatmap.ica import NonlinearICAEncoder
    from skheatmap.persistence import save
    encoder = NonlinearICAEncoder(**{ENCODER.get_params()!r})
    for epoch in range({N_ENCODER_EPOCHS}):
        encoder.partial_fit(data["X"])
        save(encoder, {str(archive)!r})
    """
    # 240 frames -> 239 PCL pairs in batches of 16: 15 steps per epoch; step 20 is in epoch 2
    _run_until_frozen_then_kill(tmp_path, body, freeze_at=20, data={"X": X})

    resumed = load(archive)
    assert resumed.n_iter_ == 1
    while resumed.n_iter_ < N_ENCODER_EPOCHS:
        resumed.partial_fit(X)
    uninterrupted = clone(ENCODER)
    for _ in range(N_ENCODER_EPOCHS):
        uninterrupted.partial_fit(X)
    assert resumed.loss_curve_ == uninterrupted.loss_curve_
    np.testing.assert_array_equal(resumed.transform(X), uninterrupted.transform(X))


@pytest.mark.parametrize("freeze_at", [20, 80], ids=["first restart", "second restart"])
def test_encoder_fit_killed_mid_epoch_resumes_from_its_checkpoint(tmp_path, monkeypatch,
                                                                  freeze_at):  # fmt: skip
    rng = np.random.default_rng(0)
    X = np.tanh(rng.laplace(size=(2, 120, 3)) @ rng.normal(size=(3, 3)))
    encoder = clone(ENCODER).set_params(max_epochs=N_ENCODER_EPOCHS, n_init=2)
    resumable = clone(encoder).set_params(checkpoint_dir=str(tmp_path / "checkpoints"))
    body = f"""
    from skheatmap.ica import NonlinearICAEncoder
    NonlinearICAEncoder(**{resumable.get_params()!r}).fit(data["X"])
    """
    _run_until_frozen_then_kill(tmp_path, body, freeze_at=freeze_at, data={"X": X})
    assert len(list((tmp_path / "checkpoints").glob("nonlinear_ica-*.pt"))) == 1
    n_resumed, resumed = _count_optimiser_steps(monkeypatch, lambda: clone(resumable).fit(X))
    n_all, uninterrupted = _count_optimiser_steps(monkeypatch, lambda: clone(encoder).fit(X))
    # the resumed fit skips the checkpointed epochs and redoes only the one cut short
    assert n_all - freeze_at <= n_resumed < n_all
    assert resumed.loss_curve_ == uninterrupted.loss_curve_
    assert resumed.best_loss_ == uninterrupted.best_loss_
    np.testing.assert_array_equal(resumed.transform(X), uninterrupted.transform(X))


def test_encoder_fits_with_other_parameters_keep_separate_checkpoints(tmp_path):
    X = np.random.default_rng(0).normal(size=(2, 60, 3))
    encoder = clone(ENCODER).set_params(max_epochs=1, checkpoint_dir=str(tmp_path))
    encoder.fit(X)
    clone(encoder).set_params(lr=0.5).fit(X)
    clone(encoder).fit(X[:, :50])
    assert len(list(tmp_path.glob("nonlinear_ica-*.pt"))) == 3


def test_encoder_refuses_the_checkpoint_of_another_fit(tmp_path):
    X = np.random.default_rng(0).normal(size=(2, 60, 3))
    encoder = clone(ENCODER).set_params(max_epochs=1, checkpoint_dir=str(tmp_path))
    encoder.fit(X)
    (mine,) = tmp_path.glob("nonlinear_ica-*.pt")
    other = tmp_path / "other"
    clone(encoder).set_params(lr=0.5, checkpoint_dir=str(other)).fit(X)
    (theirs,) = other.glob("nonlinear_ica-*.pt")
    theirs.replace(mine)  # a file under this fit's name, written by another fit
    with pytest.raises(ValueError, match="written by a fit with other parameters or data"):
        clone(encoder).fit(X)


def test_checkpoint_fingerprints_do_not_depend_on_memory_addresses():
    from skheatmap._checkpoint import fingerprint

    def params():  # equal values, fresh objects at other addresses
        return {"random_state": np.random.RandomState(3), "mask": lambda frame: frame > 30}

    assert fingerprint(params()) == fingerprint(params())
    other = {"random_state": np.random.RandomState(4), "mask": lambda frame: frame > 30}
    assert fingerprint(other) != fingerprint(params())
