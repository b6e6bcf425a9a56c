"""The loaders on real UCR files, and every bad input they must reject clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ncvqvae.data.dataset import from_arrays, resample_series
from ncvqvae.data.sources import available_datasets, load_dataset
from ncvqvae.data.standardize import Standardizer
from ncvqvae.errors import DataError


def test_gunpoint_from_ucr_folder_matches_aeon_copy(ucr_dir: Path) -> None:
    folder = load_dataset("GunPoint", ucr_dir)
    bundled = load_dataset("GunPoint")
    assert folder.x_train.shape == (50, 1, 150) and folder.x_test.shape == (150, 1, 150)
    np.testing.assert_allclose(folder.x_train, bundled.x_train, atol=1e-6)
    np.testing.assert_allclose(folder.x_test, bundled.x_test, atol=1e-6)
    np.testing.assert_array_equal(folder.y_train, bundled.y_train)
    assert folder.class_names == ("1", "2")


def test_ecg200_labels_are_encoded_from_train(ucr_dir: Path) -> None:
    data = load_dataset("ECG200", ucr_dir)
    assert data.x_train.shape == (100, 1, 96) and data.x_test.shape == (100, 1, 96)
    assert data.class_names == ("-1", "1")
    assert set(np.unique(data.y_train)) == {0, 1}
    raw = np.loadtxt(ucr_dir / "ECG200" / "ECG200_TRAIN.tsv")
    np.testing.assert_allclose(data.x_train[:, 0], raw[:, 1:], atol=1e-6)
    np.testing.assert_array_equal(data.y_train, (raw[:, 0] == 1).astype(int))


def test_environment_variable_is_a_data_root(ucr_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCVQVAE_DATA", str(ucr_dir))
    names = {loc.name: loc.source for loc in available_datasets()}
    assert names["ECG200"] == "folder" and names["OSULeaf"] == "aeon"


def test_multivariate_aeon_dataset_keeps_channels() -> None:
    data = load_dataset("BasicMotions")
    assert data.x_train.shape == (40, 6, 100) and data.n_classes == 4


def test_standardizer_uses_one_global_mean_and_std() -> None:
    x = np.arange(24, dtype=np.float32).reshape(2, 1, 12)
    s = Standardizer.fit(x)
    z = s.transform(x)
    assert abs(z.mean()) < 1e-6 and abs(z.std() - 1) < 1e-5
    np.testing.assert_allclose(s.inverse(z), x, atol=1e-4)


def _write(folder: Path, name: str, train: str, test: str | None) -> Path:
    (folder / name).mkdir(parents=True)
    (folder / name / f"{name}_TRAIN.tsv").write_text(train)
    if test is not None:
        (folder / name / f"{name}_TEST.tsv").write_text(test)
    return folder


GOOD = "1\t" + "\t".join(str(v) for v in range(16)) + "\n2\t" + "\t".join(str(-v) for v in range(16)) + "\n"


@pytest.mark.parametrize(
    ("train", "test", "message"),
    [
        (GOOD, None, "TEST.tsv is missing"),
        ("", GOOD, "is empty"),
        (GOOD.replace("\t3\t", "\tabc\t", 1), GOOD, "'abc' is not a number"),
        (GOOD.replace("\t3\t", "\tNaN\t", 1), GOOD, "NaN (missing values)"),
        (GOOD + "1\t1\t2\t3\t4\t5\t6\t7\t8\t9\n", GOOD, "--resample"),
        (GOOD, GOOD.replace("\n2\t", "\n3\t"), "do not occur in the training split"),
        ("1\t1\t2\t3\n2\t3\t2\t1\n", "1\t1\t2\t3\n", "too short"),
    ],
    ids=["missing-test", "empty", "non-numeric", "nan", "unequal", "unseen-label", "too-short"],
)
def test_bad_files_give_a_clear_error(tmp_path: Path, train: str, test: str | None, message: str) -> None:
    _write(tmp_path, "Bad", train, test)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_dataset("Bad", tmp_path)


def test_unknown_dataset_lists_close_matches(ucr_dir: Path) -> None:
    with pytest.raises(DataError, match="did you mean GunPoint"):
        load_dataset("GunPont", ucr_dir)


def test_missing_data_dir_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("GunPoint", tmp_path / "nowhere")


def test_unequal_lengths_resample_to_a_common_length(tmp_path: Path) -> None:
    _write(tmp_path, "Ragged", GOOD + "1\t" + "\t".join(str(v) for v in range(10)) + "\n", GOOD)
    data = load_dataset("Ragged", tmp_path, resample=32)
    assert data.x_train.shape == (3, 1, 32)
    np.testing.assert_allclose(data.x_train[2, 0, [0, -1]], [0, 9], atol=1e-5)


def test_numpy_input_is_checked() -> None:
    x = np.random.default_rng(0).normal(size=(10, 2, 32))
    y = np.arange(10) % 2
    data = from_arrays(x, y, x, y, name="mine")
    assert data.n_channels == 2 and data.n_classes == 2
    # (N, L) is univariate data, as on the command line.
    assert from_arrays(x[:, 0], y, x[:, 0], y).x_train.shape == (10, 1, 32)
    with pytest.raises(DataError, match="1-D array"):
        from_arrays(x, np.stack([y, y], axis=1), x, y)
    bad = x.copy()
    bad[3, 1, 5] = np.inf
    with pytest.raises(DataError, match="infinite"):
        from_arrays(bad, y, x, y)
    with pytest.raises(DataError, match="labels"):
        from_arrays(x, y[:5], x, y)


def test_resample_rejects_inner_nan() -> None:
    x = np.ones((1, 1, 10))
    x[0, 0, 3] = np.nan
    with pytest.raises(DataError, match="inside the series"):
        resample_series(x, 16)
