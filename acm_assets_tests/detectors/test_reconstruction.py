import numpy as np

from acm_assets.detectors.reconstruction import fit_reconstruction, residuals


def test_a_tag_tied_to_the_others_is_reconstructed_and_its_break_shows_in_its_residual():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 2000))
    x = np.column_stack([a, b, 2.0 * a - b + 0.01 * rng.normal(size=2000)])
    coef, intercept = fit_reconstruction(x, alpha=1e-6)
    assert np.all(np.diag(coef) == 0.0)
    np.testing.assert_allclose(coef[:2, 2], [2.0, -1.0], atol=0.01)
    assert np.abs(residuals(x, coef, intercept)[:, 2]).max() < 0.1
    broken = x[:10].copy()
    broken[:, 2] += 1.0
    assert np.abs(residuals(broken, coef, intercept)[:, 2]).min() > 0.5
