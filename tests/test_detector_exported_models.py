"""Exported sklearn models must predict exactly like the estimators they came from."""

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from vidprov.detector.exported_models import Isotonic, LinearModel, Platt, TreeEnsemble


def data(n=200, d=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = (x[:, 0] + 0.5 * x[:, 1] ** 2 + 0.3 * rng.normal(size=n) > 0.5).astype(int)
    return x, y


def test_tree_ensemble_matches_sklearn_and_contributions_add_up():
    x, y = data()
    gb = GradientBoostingClassifier(n_estimators=30, max_depth=3, subsample=0.8, random_state=0).fit(x, y)
    ens = TreeEnsemble.from_sklearn(gb)
    assert np.allclose(ens.raw(x), gb.decision_function(x), atol=1e-9)
    root = ens.bias + ens.scale * ens.value[:, 0].sum()
    for row in x[:5]:
        assert np.isclose(root + ens.contributions(row).sum(), ens.raw(row[None])[0])
    # Features 0 and 1 drive the label: they must get the largest attributions on average.
    mean_abs = np.mean([np.abs(ens.contributions(r)) for r in x[:40]], axis=0)
    assert set(np.argsort(-mean_abs)[:2]) == {0, 1}


def test_tree_ensemble_roundtrip_through_tensors():
    x, y = data(seed=1)
    gb = GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0).fit(x, y)
    ens = TreeEnsemble.from_sklearn(gb)
    back = TreeEnsemble.from_saved(ens.tensors("m"), "m", ens.json())
    assert np.array_equal(back.raw(x), ens.raw(x))


def test_linear_model_matches_sklearn():
    x, y = data(seed=2)
    sc = StandardScaler().fit(x)
    lr = LogisticRegression().fit(sc.transform(x), y)
    lin = LinearModel.from_sklearn(sc, lr)
    assert np.allclose(lin.raw(x), lr.decision_function(sc.transform(x)))
    assert np.allclose(lin.contributions(x[0]).sum() + lin.intercept, lin.raw(x[:1])[0])


def test_isotonic_matches_sklearn_and_platt_is_monotone():
    rng = np.random.default_rng(3)
    s = rng.normal(size=300)
    y = (s + rng.normal(size=300) > 0).astype(int)
    iso = Isotonic.fit(s, y)
    ref = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(s, y)
    grid = np.linspace(-4, 4, 50)
    assert np.allclose(iso(grid), np.clip(ref.predict(grid), 1e-3, 1 - 1e-3))
    p = Platt.fit(s, y)(grid)
    assert np.all(np.diff(p) > 0) and 0 < p.min() and p.max() < 1
