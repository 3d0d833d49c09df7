import numpy as np
import pandas as pd
import pytest
from conftest import moving_clip, needs_data
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vidprov import Manifest, write_video
from vidprov.manifest import ManifestError


def small_df(n=12):
    return pd.DataFrame({
        "path": [f"c{i}.mp4" for i in range(n)],
        "label": ["real", "generated"] * (n // 2),
        "generator": ["", "svd"] * (n // 2),
        "group": [f"g{i // 3}" for i in range(n)],
        "note": ["x"] * n,
    })


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_read_round_trip(tmp_path, suffix):
    m = Manifest(small_df(), root=tmp_path)
    path = m.write(tmp_path / f"m{suffix}")
    back = Manifest.read(path)
    assert back.root == tmp_path
    pd.testing.assert_frame_equal(back.df, m.df, check_dtype=False)
    assert back.labels().tolist() == [0, 1] * 6
    assert back.abspath(back.df.iloc[0].to_dict()) == tmp_path / "c0.mp4"


def test_schema_errors(tmp_path):
    with pytest.raises(ManifestError, match="'label'"):
        Manifest(pd.DataFrame({"path": ["a"]}))
    with pytest.raises(ManifestError, match="unknown labels"):
        Manifest(pd.DataFrame({"path": ["a"], "label": ["fake-ish"]}))
    with pytest.raises(ManifestError, match="twice"):
        Manifest(pd.DataFrame({"path": ["a", "a"], "label": ["real", "real"]}))
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(ManifestError, match="not a readable manifest"):
        Manifest.read(bad)
    with pytest.raises(ManifestError, match="no such"):
        Manifest.read(tmp_path / "missing.csv")


def test_missing_group_is_own_group():
    m = Manifest(pd.DataFrame({"path": ["a", "b"], "label": ["real", "real"]}))
    assert m.df["group"].tolist() == ["a", "b"]


@settings(max_examples=30, deadline=None)
@given(n_groups=st.integers(4, 30), seed=st.integers(0, 1000), test_size=st.floats(0.1, 0.5))
@example(n_groups=4, seed=1, test_size=0.5)  # once left train empty: big groups filled test + val
def test_group_split_never_leaks(n_groups, seed, test_size):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 6, n_groups)
    groups = np.repeat([f"g{i}" for i in range(n_groups)], sizes)
    labels = np.repeat(rng.choice(["real", "generated"], n_groups), sizes)
    df = pd.DataFrame({"path": [f"p{i}" for i in range(len(groups))], "label": labels, "group": groups})
    split = Manifest(df).group_split(test_size=test_size, val_size=0.1, seed=seed)
    split.check_no_group_leak()
    assert set(split.df["split"]) <= {"train", "val", "test"}
    assert (split.df["split"] == "test").any() and (split.df["split"] == "train").any()


def test_group_split_is_deterministic():
    m = Manifest(small_df(30))
    a = m.group_split(seed=3).df["split"].tolist()
    assert a == m.group_split(seed=3).df["split"].tolist()


def test_concat_keeps_each_root_even_for_manifests_read_by_relative_path(tmp_path, monkeypatch):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Manifest(small_df(4), root=tmp_path / name).write(tmp_path / name / "m.csv")
    monkeypatch.chdir(tmp_path)
    both = Manifest.read("a/m.csv").concat(Manifest.read("b/m.csv"))
    assert [str(p) for p in both.paths] == [str(tmp_path / n / f"c{i}.mp4") for n in "ab" for i in range(4)]


def test_from_folder(tmp_path):
    clip = moving_clip(t=3, h=16, w=16)
    for rel in ["real/a.mp4", "real/scene1/b.mp4", "generated/svd/c.mp4", "generated/svd/s2/d.mp4", "other/e.mp4"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        write_video(clip, tmp_path / rel)
    (tmp_path / "real" / "notes.txt").write_text("not a video")
    m = Manifest.from_folder(tmp_path)
    df = m.df.set_index("path")
    assert sorted(df.index) == ["generated/svd/c.mp4", "generated/svd/s2/d.mp4", "real/a.mp4", "real/scene1/b.mp4"]
    assert df.loc["generated/svd/c.mp4", "generator"] == "svd"
    assert df.loc["real/scene1/b.mp4", "group"] == "real/scene1"
    assert df.loc["generated/svd/s2/d.mp4", "group"] == "generated/svd/s2"
    assert all(p.exists() for p in m.paths)
    with pytest.raises(ManifestError, match="no videos"):
        Manifest.from_folder(tmp_path / "other")


@needs_data
def test_shared_manifest():
    m = Manifest.from_shared()
    assert len(m) >= 200 and set(m.df["label"]) >= {"real", "generated"}
    assert all(p.exists() for p in m.paths)
    assert (m.df["source_format"] == "gif").sum() > 10
    m.group_split(seed=0).check_no_group_leak()
