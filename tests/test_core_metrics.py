import numpy as np
import pytest
from sklearn import metrics as skm

from vidprov import metrics as M


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(60), np.zeros(80)].astype(int)
    s = np.r_[rng.normal(1, 1, 60), rng.normal(0, 1, 80)]
    s = np.round(s, 1)  # ties, which sklearn handles and so must we
    return y, 1 / (1 + np.exp(-s))


def test_point_metrics_match_sklearn(data):
    y, s = data
    assert M.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s))
    assert M.average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s))
    fpr, tpr, thr = skm.roc_curve(y, s, drop_intermediate=False)
    f2, t2, _ = M.roc_curve(y, s)
    np.testing.assert_allclose(f2, fpr)
    np.testing.assert_allclose(t2, tpr)
    assert M.accuracy(y, s, 0.6) == pytest.approx(skm.accuracy_score(y, s >= 0.6))
    assert M.f1(y, s, 0.6) == pytest.approx(skm.f1_score(y, s >= 0.6))
    pm = M.point_metrics(y, s)
    assert pm["roc_auc"] == pytest.approx(M.roc_auc(y, s))
    assert pm["eer"] == pytest.approx(M.eer(y, s))
    assert pm["tpr_at_fpr_1pct"] == pytest.approx(M.tpr_at_fpr(y, s, 0.01))
    assert pm["average_precision"] == pytest.approx(skm.average_precision_score(y, s))
    assert pm["ece"] == pytest.approx(M.expected_calibration_error(y, s))
    assert pm["f1"] == pytest.approx(skm.f1_score(y, s >= 0.5))


def test_eer_and_tpr_on_known_cases():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    perfect = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    assert M.eer(y, perfect) == 0.0
    assert M.tpr_at_fpr(y, perfect, 0.001) == 1.0
    inverted = 1 - perfect
    assert M.eer(y, inverted) == 1.0
    assert M.tpr_at_fpr(y, inverted, 0.01) == 0.0
    # one negative above two positives: at FPR 0 only the top positive is caught
    s = np.array([0.1, 0.2, 0.3, 0.85, 0.6, 0.7, 0.8, 0.9])
    assert M.tpr_at_fpr(y, s, 0.0) == 0.25
    assert M.eer(y, s) == pytest.approx(0.25)
    thr = M.threshold_at_fpr(y, s, 0.0)
    assert thr == 0.9


def test_ece():
    y = np.array([1, 0, 1, 0])
    assert M.expected_calibration_error(y, np.array([1.0, 0.0, 1.0, 0.0])) == 0.0
    assert M.expected_calibration_error(y, np.full(4, 0.5)) == 0.0
    assert M.expected_calibration_error(y, np.array([0.0, 1.0, 0.0, 1.0])) == 1.0
    assert np.isnan(M.expected_calibration_error(y, np.array([2.0, 0, 0, 0])))


def test_bootstrap_ci_contains_point_and_is_seeded(data):
    y, s = data
    a = M.evaluate(y, s, n_boot=200, seed=1)
    b = M.evaluate(y, s, n_boot=200, seed=1)
    c = M.evaluate(y, s, n_boot=200, seed=2)
    for name in M.METRICS:
        v = a[name]
        if name != "tpr_at_fpr_0.1pct":  # a max over a step function can sit at its CI's edge
            assert v.lo - 1e-9 <= v.value <= v.hi + 1e-9, name
        assert v == b[name]
    assert a["roc_auc"].lo != c["roc_auc"].lo
    assert a["roc_auc"].n_pos == 60 and a["roc_auc"].n_neg == 80
    assert 0.05 < a["roc_auc"].hi - a["roc_auc"].lo < 0.3


def test_frame_level_resamples_clips():
    rng = np.random.default_rng(0)
    # 10 clips of 50 frames each; frames within a clip are strongly correlated, so a frame
    # bootstrap would give an absurdly narrow interval; a clip bootstrap must not.
    labels = np.array([1] * 5 + [0] * 5)
    frames = [np.full(50, rng.normal(lab * 0.5, 1)) + rng.normal(0, 0.01, 50) for lab in labels]
    clip_level = M.evaluate_frames(frames, labels, n_boot=300, seed=0)["roc_auc"]
    ids = np.repeat(np.arange(10), 50)
    y = labels[ids]
    s = np.concatenate(frames)
    frame_naive = M.evaluate(y, s, n_boot=300, seed=0)["roc_auc"]
    assert clip_level.n == 500 and clip_level.n_clips == 10
    assert frame_naive.n_clips == 500
    assert (clip_level.hi - clip_level.lo) > 3 * (frame_naive.hi - frame_naive.lo)


def test_bad_input_errors():
    with pytest.raises(M.MetricsInputError, match="2 labels but 3 scores"):
        M.evaluate([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(M.MetricsInputError, match="NaN"):
        M.evaluate([0, 1], [0.1, np.nan])
    with pytest.raises(M.MetricsInputError, match="unknown metrics"):
        M.evaluate([0, 1], [0.1, 0.2], metrics=["auc"])
    with pytest.raises(M.MetricsInputError, match="different labels"):
        M.evaluate([0, 1], [0.1, 0.2], clip_ids=[7, 7])


def test_one_class_gives_nan_auc_not_crash():
    m = M.evaluate([1, 1, 1], [0.2, 0.6, 0.9], n_boot=20)
    assert np.isnan(m["roc_auc"].value)
    assert m["accuracy"].value == pytest.approx(2 / 3)


def test_bootstrap_auc_and_paired_difference_match_a_stratified_sklearn_bootstrap(data):
    y, s = data
    other = np.clip(s + np.random.default_rng(1).normal(0, 0.2, len(s)), 0, 1)
    got = M.bootstrap_auc(y, s, other=other, n_boot=200, seed=3)
    rng = np.random.default_rng(3)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    boots, diffs = [], []
    for _ in range(200):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        boots.append(skm.roc_auc_score(y[idx], s[idx]))
        diffs.append(boots[-1] - skm.roc_auc_score(y[idx], other[idx]))
    assert got["auc"] == pytest.approx(skm.roc_auc_score(y, s))
    assert got["auc_ci"] == pytest.approx(np.quantile(boots, [0.025, 0.975]).tolist())
    assert got["diff"] == pytest.approx(skm.roc_auc_score(y, s) - skm.roc_auc_score(y, other))
    assert got["diff_ci"] == pytest.approx(np.quantile(diffs, [0.025, 0.975]).tolist())
    assert (got["n_generated"], got["n_real"]) == (60, 80)
    assert "diff" not in M.bootstrap_auc(y, s, n_boot=10)
