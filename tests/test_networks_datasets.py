"""Data sets: digits split, teacher–student, local MNIST/CIFAR files written by the tests."""

import gzip
import struct

import numpy as np
import pytest

from sgd_sde.networks import load_dataset, read_idx


def write_idx(path, arr, gz=False):
    code = {np.uint8: 0x08}[arr.dtype.type]
    head = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", s) for s in arr.shape)
    raw = head + arr.tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def fake_mnist(folder, n_train=20, n_test=10, gz=False):
    rng = np.random.default_rng(0)
    folder.mkdir(exist_ok=True)
    sfx = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{sfx}", rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), gz)
    write_idx(folder / f"train-labels-idx1-ubyte{sfx}", rng.integers(0, 10, n_train, dtype=np.uint8), gz)
    write_idx(folder / f"t10k-images-idx3-ubyte{sfx}", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), gz)
    write_idx(folder / f"t10k-labels-idx1-ubyte{sfx}", rng.integers(0, 10, n_test, dtype=np.uint8), gz)


def test_digits_fixed_split():
    ds = load_dataset("digits")
    assert ds.x_train.shape == (1438, 1, 8, 8) and ds.x_test.shape == (359, 1, 8, 8)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert set(np.unique(ds.y_test)) == set(range(10))
    again = load_dataset("digits")
    np.testing.assert_array_equal(ds.x_test, again.x_test)


def test_teacher_student_controls_and_determinism():
    a = load_dataset("teacher_student", n_train=50, n_test=30, d=7, n_classes=3, seed=4)
    b = load_dataset("teacher_student", n_train=50, n_test=30, d=7, n_classes=3, seed=4)
    assert a.x_train.shape == (50, 7) and a.x_test.shape == (30, 7) and a.n_classes == 3
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert len(np.unique(a.y_train)) > 1
    with pytest.raises(ValueError, match="label_noise"):
        load_dataset("teacher_student", label_noise=2.0)
    with pytest.raises(ValueError, match="n_classes"):
        load_dataset("teacher_student", n_classes=1)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_folder(tmp_path, gz):
    fake_mnist(tmp_path / "m", gz=gz)
    ds = load_dataset("mnist", path=tmp_path / "m")
    assert ds.x_train.shape == (20, 1, 28, 28) and ds.x_test.shape == (10, 1, 28, 28)
    assert ds.x_train.max() <= 1.0


def test_npz_and_cifar_binary(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "c.npz", x_train=rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8), y_train=np.arange(6) % 10,
             x_test=rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8), y_test=np.arange(4))
    ds = load_dataset("cifar10", path=tmp_path / "c.npz")
    assert ds.x_train.shape == (6, 3, 32, 32)
    folder = tmp_path / "cifar"
    folder.mkdir()
    for name, n in [(f"data_batch_{i}.bin", 3) for i in range(1, 6)] + [("test_batch.bin", 2)]:
        rec = rng.integers(0, 256, (n, 3073), dtype=np.uint8)
        rec[:, 0] %= 10
        (folder / name).write_bytes(rec.tobytes())
    ds = load_dataset("cifar10", path=folder)
    assert ds.x_train.shape == (15, 3, 32, 32) and ds.x_test.shape == (2, 3, 32, 32)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ValueError, match="name"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="path"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="path"):
        load_dataset("mnist", path=tmp_path / "nope")
    fake_mnist(tmp_path / "m")
    (tmp_path / "m" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(ValueError, match="t10k-labels"):
        load_dataset("mnist", path=tmp_path / "m")
    fake_mnist(tmp_path / "m")
    f = tmp_path / "m" / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-5])  # truncated
    with pytest.raises(ValueError, match="corrupt"):
        load_dataset("mnist", path=tmp_path / "m")
    f.write_bytes(b"\x01\x02\x03")
    with pytest.raises(ValueError, match="IDX"):
        read_idx(f)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="corrupt"):
        load_dataset("mnist", path=tmp_path / "bad.npz")
    np.savez(tmp_path / "partial.npz", x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="lacks"):
        load_dataset("mnist", path=tmp_path / "partial.npz")
    np.savez(tmp_path / "obj.npz", x_train=np.array([None, 1], dtype=object), y_train=np.zeros(2), x_test=np.zeros(2), y_test=np.zeros(2))
    with pytest.raises(ValueError, match="corrupt"):  # object arrays would need pickle: refused
        load_dataset("mnist", path=tmp_path / "obj.npz")
