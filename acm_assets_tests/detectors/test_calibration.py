import numpy as np

from acm_assets.detectors.calibration import Calibrator


def _normal(n=3000, seed=0):
    return np.random.default_rng(seed).normal(size=n)


def test_a_standard_normal_head_keeps_rising_beyond_the_last_knot():
    """An exponential tail is heavier than a normal one: beyond the held-out slice z rises more slowly than the
    normal quantile (conservative), but without bound."""
    calibrator = Calibrator.fit(_normal())
    z = calibrator(np.array([-4.0, 0.0, 3.0, 4.0, 6.0, 10.0]))
    np.testing.assert_allclose(z[:3], [-4.0, 0.0, 3.0], rtol=0.1, atol=0.1)
    assert 3.0 < z[3] < z[4] < z[5] and 0.7 * 6.0 < z[4] <= 6.0


def test_a_held_out_slice_with_a_few_excursions_maps_them_near_their_rank():
    """80 held-out points of a head whose tag wanders now and then: six excursions beyond the 90 % knot. A line
    through the top knots gave two of them z 3.7 and 3.8, and the fused alert threshold followed them."""
    rng = np.random.default_rng(2)
    raw = np.concatenate([np.abs(rng.normal(size=74)), 2.5 + rng.exponential(2.0, size=6)])
    z = Calibrator.fit(raw)(np.sort(raw))
    assert z[-1] < 3.0


def test_a_crowded_top_of_the_held_out_slice_does_not_inflate_z_beyond_it():
    raw = np.sort(_normal())
    top = int(0.995 * raw.size)
    raw[top:] = raw[top] + 0.004 * np.arange(raw.size - top)  # the last 15 points bunched just above q99.5
    calibrator = Calibrator.fit(raw)
    last = calibrator.knots_raw[-1]
    local_slope = np.diff(calibrator.knots_z[-2:]) / np.diff(calibrator.knots_raw[-2:])
    assert local_slope[0] > 4.0  # what the last two knots alone would extrapolate with
    z = calibrator(np.array([last + 2.0]))[0]
    assert calibrator.knots_z[-1] + 0.5 < z < calibrator.knots_z[-1] + 2.0 * 1.5


def test_below_the_first_knot_the_map_stays_monotone_and_finite():
    calibrator = Calibrator.fit(_normal(seed=1))
    z = calibrator(np.array([-50.0, -10.0, -3.0]))
    assert np.all(np.isfinite(z)) and z[0] <= z[1] <= z[2]
