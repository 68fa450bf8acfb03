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


def test_all_tags_at_once_equal_one_ridge_regression_per_tag():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + rng.normal(size=6) * 10
    coef, intercept = fit_reconstruction(x, alpha=1.0)
    for j in range(6):
        others = [i for i in range(6) if i != j]
        ridge = Ridge(alpha=1.0).fit(x[:, others], x[:, j])
        np.testing.assert_allclose(coef[others, j], ridge.coef_, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(intercept[j], ridge.intercept_, rtol=1e-9, atol=1e-9)
