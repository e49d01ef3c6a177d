"""Synthetic facial thermal videos with ground truth for every stage.

The scene model, per recording (one subject watching one stimulus segment):

``X = template + responses + transients + breathing + drift + motion + noise``

* ``template``: a face ellipse on a cooler background, with warmer
  periorbital and forehead regions, a cooler nose tip and cheeks, and a faint
  subject-specific vascular texture; shape, size, position and baseline
  temperature vary by subject.
* ``responses``: ``n_sources`` latent emotional sources reach the pixels of
  their region through a pixel-dependent saturating nonlinearity
  ``sign · amplitude · w(p) · tanh(κ(p) · s(t))`` with a spatial footprint
  ``w`` wider than the region. Recordings of one segment share the source
  shapes up to a per-recording lag and a per-subject gain.
* ``transients``: micro-events of 0.5-2 s (raised-cosine bumps) in one region,
  listed in ``events``.
* ``breathing``: a 0.2-0.4 Hz oscillation at the nostrils; ``drift``: a slow
  global offset; ``motion``: sub-pixel head translation (first-order warp).
* ``noise``: NETD-like white noise plus fixed-pattern noise (per-pixel and
  per-column offsets, fixed per subject). ``X - X_clean`` is exactly this noise;
  dead pixels are NaN in ``X`` only.
"""

import numbers

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from .._bumps import raised_cosine_bump

__all__ = ["REGIONS", "make_thermal_faces"]

# Region name -> (x offset, y offset) in face half-axes, (sx, sy) blob widths in
# face half-axes, resting temperature offset in °C.
_REGION_GEOMETRY = {
    "nose": ((0.0, 0.22), (0.13, 0.14), -1.2),
    "periorbital": ((0.38, -0.16), (0.14, 0.09), 1.1),
    "forehead": ((0.0, -0.58), (0.45, 0.16), 0.5),
    "maxillary": ((0.48, 0.28), (0.16, 0.14), -0.4),
    "mouth": ((0.0, 0.58), (0.22, 0.08), 0.3),
}
#: Facial regions, in the order sources are assigned to them.
REGIONS = tuple(_REGION_GEOMETRY)
# Direction of the emotional response in each region: stress cools the nose
# tip and maxillary area and warms the periorbital area and forehead.
_RESPONSE_SIGN = {
    "nose": -1.0, "periorbital": 1.0, "forehead": 1.0, "maxillary": -1.0, "mouth": 1.0,
}  # fmt: skip
_NOSTRILS = ((0.12, 0.36), (0.07, 0.05))
# How much wider than the region the response footprint is.
_SPREAD = 1.6


@validate_params(
    {
        "n_subjects": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_segments": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_frames": [Interval(numbers.Integral, 2, None, closed="left")],
        "frame_shape": [tuple, list],
        "fs": [Interval(numbers.Real, 1.0, None, closed="left")],
        "n_sources": [Interval(numbers.Integral, 1, len(REGIONS), closed="both")],
        "source_timescale": [Interval(numbers.Real, 0, None, closed="neither")],
        "response_amplitude": [Interval(numbers.Real, 0, None, closed="left")],
        "max_lag": [Interval(numbers.Real, 0, None, closed="left")],
        "events_per_recording": [Interval(numbers.Real, 0, None, closed="left")],
        "event_amplitude": [Interval(numbers.Real, 0, None, closed="left")],
        "breathing_amplitude": [Interval(numbers.Real, 0, None, closed="left")],
        "drift_std": [Interval(numbers.Real, 0, None, closed="left")],
        "head_motion": [Interval(numbers.Real, 0, None, closed="left")],
        "noise_std": [Interval(numbers.Real, 0, None, closed="left")],
        "fixed_pattern_std": [Interval(numbers.Real, 0, None, closed="left")],
        "dead_pixel_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "min_length": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "dtype": [type, np.dtype, str],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_thermal_faces(
    *,
    n_subjects=8,
    n_segments=4,
    n_frames=256,
    frame_shape=(32, 32),
    fs=8.0,
    n_sources=3,
    source_timescale=3.0,
    response_amplitude=0.8,
    max_lag=1.0,
    events_per_recording=2.0,
    event_amplitude=0.5,
    breathing_amplitude=0.3,
    drift_std=0.1,
    head_motion=0.3,
    noise_std=0.05,
    fixed_pattern_std=0.03,
    dead_pixel_fraction=0.0,
    min_length=None,
    dtype=np.float64,
    random_state=None,
):
    """Generate facial thermal videos of subjects watching stimulus segments.

    Every subject is recorded once per segment, so there are
    ``n = n_subjects * n_segments`` recordings, subject-major
    (recording ``i`` is subject ``i // n_segments``, segment ``i % n_segments``).

    Realistic sizes: 64x64 to 128x128 frames at 8-30 Hz for minutes
    (``n_frames`` in the thousands). Memory is about
    ``2 * n * n_frames * I * J * itemsize`` bytes (``X`` and ``X_clean``); use
    ``dtype=np.float32`` to halve it.

    Parameters
    ----------
    n_subjects : int, default=8
        Subjects; each has its own face shape, baseline temperature, source
        gains and fixed-pattern noise.
    n_segments : int, default=4
        Stimulus segments; the label ``y`` of a recording is its segment.
    n_frames : int, default=256
        Frames per recording (the longest, when ``min_length`` is set).
    frame_shape : tuple of int, default=(32, 32)
        ``(I, J)``, each at least 8.
    fs : float, default=8.0
        Frame rate in Hz (at least 1 Hz, so breathing is below Nyquist).
    n_sources : int, default=3
        Latent emotional sources, assigned to the regions in the order of
        :data:`REGIONS` (nose, periorbital, forehead, maxillary, mouth).
    source_timescale : float, default=3.0
        Correlation time of the sources in seconds.
    response_amplitude : float, default=0.8
        Peak temperature change in °C of a source's response.
    max_lag : float, default=1.0
        Recordings of one segment are lagged copies of the segment's sources,
        with lags drawn from ``U[-max_lag, max_lag]`` seconds.
    events_per_recording : float, default=2.0
        Mean (Poisson) number of transients per recording.
    event_amplitude : float, default=0.5
        Typical peak temperature change in °C of a transient (drawn from
        ``U[0.6, 1.2]`` times this, with the sign of its region's response).
    breathing_amplitude : float, default=0.3
        Amplitude in °C of the nostril oscillation.
    drift_std : float, default=0.1
        Size in °C of the slow global drift.
    head_motion : float, default=0.3
        Standard deviation of the head translation, in pixels.
    noise_std : float, default=0.05
        NETD: standard deviation in °C of the white sensor noise.
    fixed_pattern_std : float, default=0.03
        Standard deviation in °C of the fixed-pattern noise (half per pixel,
        half per column, in variance), constant over each subject's recordings.
    dead_pixel_fraction : float, default=0.0
        Fraction of pixels that are dead (NaN in ``X``) for each subject.
    min_length : int, optional
        When set, recording lengths are drawn from ``[min_length, n_frames]``
        and shorter recordings are NaN-padded at the end (tslearn layout).
    dtype : dtype, default=np.float64
        Floating dtype of the arrays.
    random_state : int, RandomState instance or None, default=None
        Seed for a deterministic draw.

    Returns
    -------
    data : Bunch
        - ``X`` : ndarray (n, T, I, J), temperatures in °C with noise.
        - ``X_clean`` : ndarray (n, T, I, J), the same scene without sensor
          noise or dead pixels.
        - ``y`` : ndarray (n,), segment label. ``groups`` : ndarray (n,), subject.
        - ``sources`` : ndarray (n, T, n_sources), the latent sources.
        - ``events`` : dict of equal-length arrays (a table): ``recording``,
          ``onset`` and ``duration`` (frames), ``onset_s`` and ``duration_s``,
          ``region``, ``amplitude`` (°C).
        - ``lengths`` : ndarray (n,), frames of each recording.
        - ``fs`` : float. ``regions`` : tuple of region names.
        - ``region_masks`` : dict region -> bool ndarray (n, I, J).
          ``face_mask`` : bool ndarray (n, I, J).
        - ``source_regions`` : tuple, the region of each source.
        - ``params`` : dict, the arguments and the per-recording draws
          (lags, gains, breathing frequencies, source prototypes).

    Examples
    --------
    >>> from skheatmap.datasets import make_thermal_faces
    >>> faces = make_thermal_faces(n_subjects=2, n_segments=2, n_frames=32, random_state=0)
    >>> faces.X.shape, faces.sources.shape
    ((4, 32, 32, 32), (4, 32, 3))
    >>> faces.y, faces.groups
    (array([0, 1, 0, 1]), array([0, 0, 1, 1]))
    """
    frame_shape = _check_frame_shape(frame_shape)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating dtype such as np.float32, got {dtype}.")
    if min_length is not None and min_length > n_frames:
        raise ValueError(
            f"min_length={min_length} exceeds n_frames={n_frames}; use min_length <= n_frames."
        )
    rng = check_random_state(random_state)
    n = n_subjects * n_segments
    I, J = frame_shape
    source_regions = REGIONS[:n_sources]
    subjects = [_draw_subject(rng, frame_shape) for _ in range(n_subjects)]
    prototypes, proto_time = _source_prototypes(
        rng, n_segments, n_frames, n_sources, fs, source_timescale, max_lag
    )
    gains = rng.uniform(0.7, 1.3, size=(n_subjects, n_sources))
    lags = rng.uniform(-max_lag, max_lag, size=n)
    breathing_hz = rng.uniform(0.2, 0.4, size=n)
    lengths = (
        np.full(n, n_frames)
        if min_length is None
        else rng.randint(min_length, n_frames + 1, size=n)
    )

    X_clean = np.empty((n, n_frames, I, J), dtype=dtype)
    sources = np.empty((n, n_frames, n_sources), dtype=dtype)
    events = []
    time = np.arange(n_frames) / fs
    for i in range(n):
        subject, segment = divmod(i, n_segments)
        face = subjects[subject]
        s = gains[subject] * np.stack(
            [np.interp(time + lags[i], proto_time, prototypes[segment, :, l])
             for l in range(n_sources)],
            axis=1,
        )  # fmt: skip
        sources[i] = s
        video = _render(
            rng, face, s, source_regions, time, fs, breathing_hz[i],
            response_amplitude, breathing_amplitude, drift_std, head_motion,
        )  # fmt: skip
        for event in _draw_events(rng, lengths[i], fs, events_per_recording, event_amplitude):
            video += _event_field(event, face, n_frames)
            events.append({"recording": i, **event})
        X_clean[i] = video.reshape(n_frames, I, J)

    noise = _sensor_noise(rng, n, n_frames, frame_shape, n_segments, noise_std, fixed_pattern_std,
                          dtype)  # fmt: skip
    X = X_clean + noise
    _kill_pixels(rng, X, n_segments, dead_pixel_fraction)
    for array in (X, X_clean, sources):
        for i in np.flatnonzero(lengths < n_frames):
            array[i, lengths[i] :] = np.nan

    return Bunch(
        X=X,
        X_clean=X_clean,
        y=np.tile(np.arange(n_segments), n_subjects),
        groups=np.repeat(np.arange(n_subjects), n_segments),
        sources=sources,
        events=_event_table(events, fs),
        lengths=lengths.astype(np.intp),
        fs=float(fs),
        regions=REGIONS,
        source_regions=source_regions,
        region_masks={
            r: np.repeat(np.stack([f["masks"][r] for f in subjects]), n_segments, axis=0)
            for r in REGIONS
        },
        face_mask=np.repeat(np.stack([f["face"] > 0.5 for f in subjects]), n_segments, axis=0),
        params=dict(
            n_subjects=n_subjects, n_segments=n_segments, n_frames=n_frames,
            frame_shape=frame_shape, fs=fs, n_sources=n_sources,
            source_timescale=source_timescale, response_amplitude=response_amplitude,
            max_lag=max_lag, events_per_recording=events_per_recording,
            event_amplitude=event_amplitude,
            breathing_amplitude=breathing_amplitude, drift_std=drift_std,
            head_motion=head_motion, noise_std=noise_std,
            fixed_pattern_std=fixed_pattern_std, dead_pixel_fraction=dead_pixel_fraction,
            min_length=min_length, lags=lags, gains=gains, breathing_hz=breathing_hz,
            source_prototypes=prototypes, prototype_time=proto_time,
        ),  # fmt: skip
    )


def _check_frame_shape(frame_shape):
    if (
        len(frame_shape) != 2
        or not all(isinstance(s, numbers.Integral) for s in frame_shape)
        or min(frame_shape) < 8
    ):
        raise ValueError(
            f"frame_shape must be a pair (I, J) of ints, each at least 8, got {frame_shape!r}."
        )
    return tuple(int(s) for s in frame_shape)


def _draw_subject(rng, frame_shape):
    """Face geometry, resting template and region footprints of one subject."""
    I, J = frame_shape
    v, u = np.meshgrid(np.linspace(-1, 1, I), np.linspace(-1, 1, J), indexing="ij")
    cx, cy = rng.uniform(-0.08, 0.08), rng.uniform(-0.05, 0.1)
    a, b = 0.55 * rng.uniform(0.88, 1.1), 0.75 * rng.uniform(0.9, 1.08)
    edge = 0.06
    radius = np.sqrt(((u - cx) / a) ** 2 + ((v - cy) / b) ** 2)
    face = 1.0 / (1.0 + np.exp((radius - 1.0) / edge))

    def blob(offset, width, scale=1.0):
        (ox, oy), (sx, sy) = offset, width
        sides = (-1.0, 1.0) if abs(ox) > 0 else (0.0,)
        return np.max(
            [np.exp(-0.5 * (((u - cx - side * ox * a) / (scale * sx * a)) ** 2
                            + ((v - cy - oy * b) / (scale * sy * b)) ** 2))
             for side in sides],
            axis=0,
        ) * face  # fmt: skip

    jitter = {r: rng.uniform(0.85, 1.15) for r in REGIONS}
    cores = {r: blob(g[0], np.multiply(g[1], jitter[r])) for r, g in _REGION_GEOMETRY.items()}
    texture = gaussian_filter(rng.standard_normal(frame_shape), sigma=max(I, J) / 24)
    texture *= 0.15 / max(texture.std(), 1e-12)
    background = 23.0 + rng.uniform(-1.0, 1.0) + 0.3 * v
    face_temperature = 34.0 + rng.normal(0.0, 0.4)
    template = background + (face_temperature - background) * face + texture * face
    template += sum(_REGION_GEOMETRY[r][2] * rng.uniform(0.8, 1.2) * cores[r] for r in REGIONS)
    subject = {
        "template": template.ravel(),
        "face": face,
        "masks": {r: cores[r] > 0.5 for r in REGIONS},
        "footprints": {
            r: blob(g[0], np.multiply(g[1], jitter[r]), scale=_SPREAD).ravel()
            for r, g in _REGION_GEOMETRY.items()
        },
        "nostrils": blob(*_NOSTRILS).ravel(),
        "supports": {},  # filled below: pixels where each footprint is not negligible
        "gradient": np.stack(np.gradient(template), axis=0).reshape(2, -1),
        # pixel-dependent saturation: stronger in the core of the footprint
        "saturation": {r: 0.6 + 0.8 * cores[r].ravel() for r in REGIONS},
    }
    for region, footprint in subject["footprints"].items():
        subject["supports"][region] = np.flatnonzero(footprint > 1e-6 * footprint.max())
    return subject


def _source_prototypes(rng, n_segments, n_frames, n_sources, fs, timescale, max_lag):
    """Smooth unit-variance source shapes per segment, on a grid padded by the lag."""
    pad = int(np.ceil(max_lag * fs)) + 1
    n_ext = n_frames + 2 * pad
    white = rng.standard_normal((n_segments, n_ext, n_sources))
    smooth = gaussian_filter1d(white, sigma=timescale * fs / 2.0, axis=1, mode="reflect")
    smooth -= smooth.mean(axis=1, keepdims=True)
    smooth /= smooth.std(axis=1, keepdims=True)
    return smooth, (np.arange(n_ext) - pad) / fs


def _render(rng, face, s, source_regions, time, fs, breath_hz, amplitude,
            breath_amplitude, drift_std, head_motion):  # fmt: skip
    """Clean video (T, I*J) of one recording, before transients."""
    video = np.repeat(face["template"][np.newaxis, :], time.size, axis=0)
    for l, region in enumerate(source_regions):
        # only the footprint's support responds; skipping the rest saves most of the tanh work
        support = face["supports"][region]
        response = np.tanh(s[:, l, np.newaxis] * face["saturation"][region][support])
        video[:, support] += (
            _RESPONSE_SIGN[region] * amplitude * face["footprints"][region][support] * response
        )
    phase = rng.uniform(0, 2 * np.pi)
    breathing = breath_amplitude * np.sin(2 * np.pi * breath_hz * time + phase)
    video += breathing[:, np.newaxis] * face["nostrils"][np.newaxis, :]
    duration = max(time[-1], 1.0 / fs)
    slope = rng.normal(0.0, drift_std) / duration
    wander = _smooth_noise(rng, (time.size,), sigma=10 * fs) * drift_std
    video += (slope * time + wander)[:, np.newaxis]
    motion = _smooth_noise(rng, (time.size, 2), sigma=fs) * head_motion
    # first-order warp X(p - d) ≈ X(p) - ∇X·d, exact enough for sub-pixel shifts
    # two rank-one updates: a BLAS call for an inner dimension of 2 costs more than it saves
    video -= motion[:, :1] * face["gradient"][0]
    video -= motion[:, 1:] * face["gradient"][1]
    return video


def _smooth_noise(rng, shape, sigma):
    """Gaussian-smoothed white noise along axis 0, with unit variance in expectation.

    The scale is the filter's, not the sample's: a recording shorter than
    ``sigma`` sees a nearly constant offset of the stated size, not a tiny
    wobble blown up to it.
    """
    smooth = gaussian_filter1d(rng.standard_normal(shape), sigma=sigma, axis=0, mode="reflect")
    # white noise through a Gaussian of width sigma keeps 1 / (2 sqrt(pi) sigma) of its variance
    return smooth * np.sqrt(2.0 * np.sqrt(np.pi) * sigma)


def _draw_events(rng, length, fs, rate, amplitude):
    """Transients inside a recording of ``length`` frames: onset, duration, region, sign."""
    drawn = []
    for _ in range(rng.poisson(rate)):
        duration = int(np.clip(round(rng.uniform(0.5, 2.0) * fs), 2, length))
        onset = int(rng.randint(0, length - duration + 1))
        region = REGIONS[rng.randint(len(REGIONS))]
        peak = _RESPONSE_SIGN[region] * rng.uniform(0.6, 1.2) * amplitude
        drawn.append({"onset": onset, "duration": duration, "region": region, "amplitude": peak})
    return drawn


def _event_field(event, face, n_frames):
    """The (T, I*J) temperature change of one transient: a raised-cosine bump."""
    bump = np.zeros(n_frames)
    d = event["duration"]
    bump[event["onset"] : event["onset"] + d] = raised_cosine_bump(d)
    return event["amplitude"] * bump[:, np.newaxis] * face["footprints"][event["region"]]


def _event_table(events, fs):
    columns = {
        "recording": np.array([e["recording"] for e in events], dtype=np.intp),
        "onset": np.array([e["onset"] for e in events], dtype=np.intp),
        "duration": np.array([e["duration"] for e in events], dtype=np.intp),
        "region": np.array([e["region"] for e in events], dtype=object),
        "amplitude": np.array([e["amplitude"] for e in events], dtype=float),
    }
    columns["onset_s"] = columns["onset"] / fs
    columns["duration_s"] = columns["duration"] / fs
    return columns


def _sensor_noise(rng, n, n_frames, frame_shape, n_segments, noise_std, fixed_pattern_std,
                  dtype):  # fmt: skip
    """White NETD noise plus fixed-pattern noise shared by a subject's recordings."""
    I, J = frame_shape
    n_subjects = n // n_segments
    half = fixed_pattern_std / np.sqrt(2.0)
    pattern = rng.normal(0.0, half, size=(n_subjects, I, J)) + rng.normal(
        0.0, half, size=(n_subjects, 1, J)
    )
    # a Generator draws normals several times faster than the legacy RandomState
    fast = np.random.default_rng(rng.randint(np.iinfo(np.int32).max))
    noise = fast.standard_normal((n, n_frames, I, J), dtype=dtype)
    noise *= noise_std
    noise += np.repeat(pattern, n_segments, axis=0)[:, np.newaxis].astype(dtype)
    return noise


def _kill_pixels(rng, X, n_segments, fraction):
    """Set a subject-specific random set of pixels to NaN in every frame."""
    if fraction == 0:
        return
    n_subjects = X.shape[0] // n_segments
    n_pixels = X.shape[2] * X.shape[3]
    n_dead = max(1, int(round(fraction * n_pixels)))
    for subject in range(n_subjects):
        dead = rng.choice(n_pixels, size=n_dead, replace=False)
        rows = slice(subject * n_segments, (subject + 1) * n_segments)
        X[rows].reshape(n_segments, X.shape[1], -1)[:, :, dead] = np.nan
