"""One calibration rule for every head and for the fused score: out-of-fold quantiles onto normal quantiles."""

import numpy as np
from scipy.stats import norm

from acm_assets.detectors.calibration import Calibrator


def _normal(n=3000, seed=0):
    return np.random.default_rng(seed).normal(size=n)


def test_a_standard_normal_head_maps_onto_itself_and_keeps_rising_beyond_the_last_knot():
    calibrator = Calibrator.fit(_normal())
    z = calibrator(np.array([-3.0, 0.0, 2.0, 3.0, 4.0, 6.0]))
    np.testing.assert_allclose(z[:4], [-3.0, 0.0, 2.0, 3.0], atol=0.25)
    assert 3.0 < z[4] < z[5] <= 20.0


def test_a_heavy_tailed_head_is_compressed_to_normal_quantiles():
    """Scores whose tail runs far out (an over-fitted density out of fold) map to the z their rank says."""
    raw = np.random.default_rng(3).standard_exponential(5000) ** 2
    calibrator = Calibrator.fit(raw)
    for p in (0.5, 0.9, 0.99):
        assert abs(calibrator(np.quantile(raw, [p]))[0] - norm.ppf(p)) < 0.05


def test_an_extra_knot_makes_the_alert_quantile_exact_where_the_points_support_it():
    raw = _normal(seed=2)
    calibrator = Calibrator.fit(raw, extra_probs=[0.997])
    assert abs(calibrator.inverse(norm.ppf(0.997)) - np.quantile(raw, 0.997)) < 1e-9
    few = Calibrator.fit(raw[:400], extra_probs=[0.997])  # 1.2 points beyond it: not a knot, the tail decides
    assert np.isclose(few.knots_z, norm.ppf(0.997)).sum() == 0


def test_inverse_undoes_the_map_inside_and_beyond_the_knots():
    calibrator = Calibrator.fit(_normal(seed=4))
    for z in (-4.5, -1.0, 0.5, 2.9, 7.0):
        assert abs(calibrator(np.array([calibrator.inverse(z)]))[0] - z) < 1e-9


def test_below_the_first_knot_the_map_stays_monotone_and_finite():
    calibrator = Calibrator.fit(_normal(seed=1))
    z = calibrator(np.array([-50.0, -10.0, -3.0]))
    assert np.all(np.isfinite(z)) and z[0] <= z[1] <= z[2]


def test_a_constant_head_treats_any_rise_as_news():
    calibrator = Calibrator.fit(np.full(200, 0.7))
    assert calibrator(np.array([0.7]))[0] == 0.0 and calibrator(np.array([0.71]))[0] == 20.0
