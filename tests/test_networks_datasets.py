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


def test_digits_read_from_the_bundled_file_equal_load_digits(monkeypatch):
    """The digits are read from scikit-learn's bundled csv without importing sklearn.datasets (nor
    scipy.optimize, which sharpness imports only where it uses it); they must be load_digits'
    arrays exactly, and load_digits is still used where the file is elsewhere."""
    import importlib.util
    import subprocess
    import sys

    from sklearn.datasets import load_digits

    from sgd_sde.networks import datasets

    ref = load_digits()
    images, target = datasets._digits_arrays()
    np.testing.assert_array_equal(images, ref.images)
    np.testing.assert_array_equal(target, ref.target)
    assert images.dtype == ref.images.dtype and images.shape == (1797, 8, 8)
    code = ("import sys; from sgd_sde.networks import load_dataset, train; load_dataset('digits'); "
            "print(*(m in sys.modules for m in ('sklearn.datasets', 'scipy.optimize', 'scipy.stats')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-3:] == ["False"] * 3  # ~1 s of imports a training process does not need
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # no file found: the fallback
    images, target = datasets._digits_arrays()
    np.testing.assert_array_equal(images, ref.images)
    np.testing.assert_array_equal(target, ref.target)


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


def _pattern(n, c, h, w):
    """uint8 images whose value encodes (example, channel, row, column): any transposition,
    channel swap or reordering of examples changes it."""
    i, k, r, q = np.meshgrid(np.arange(n), np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    return ((i * 53 + k * 101 + r * 7 + q * 3) % 256).astype(np.uint8)  # (n, c, h, w)


def test_cifar_binary_values_channel_order_and_labels(tmp_path):
    """CIFAR-10 binary record: 1 label byte, then the 1024 red, 1024 green, 1024 blue bytes, each
    channel row-major (Krizhevsky 2009, the data set's web page). The loader must return exactly
    pixel/255 at [n, channel, row, column] with the label of the same record."""
    folder = tmp_path / "cifar"
    folder.mkdir()
    images, labels = {}, {}
    for j, (name, n) in enumerate([(f"data_batch_{i}.bin", 2) for i in range(1, 6)] + [("test_batch.bin", 3)]):
        x = np.roll(_pattern(n, 3, 32, 32), j, axis=0) + np.uint8(j)
        y = (np.arange(n) * 3 + j) % 10
        rec = np.concatenate([y[:, None].astype(np.uint8), x.reshape(n, -1)], axis=1)
        (folder / name).write_bytes(rec.tobytes())
        images[name], labels[name] = x, y
    ds = load_dataset("cifar10", path=folder)
    train = [f"data_batch_{i}.bin" for i in range(1, 6)]
    np.testing.assert_array_equal(ds.x_train, np.concatenate([images[k] for k in train]).astype(np.float32) / 255)
    np.testing.assert_array_equal(ds.y_train, np.concatenate([labels[k] for k in train]))
    np.testing.assert_array_equal(ds.x_test, images["test_batch.bin"].astype(np.float32) / 255)
    np.testing.assert_array_equal(ds.y_test, labels["test_batch.bin"])
    # the mutation this guards against: reading a record as (32, 32, 3) (channels last) gives other values
    rec = np.frombuffer((folder / "test_batch.bin").read_bytes(), np.uint8).reshape(-1, 3073)
    wrong = rec[:, 1:].reshape(-1, 32, 32, 3).transpose(0, 3, 1, 2).astype(np.float32) / 255
    assert np.mean(wrong != ds.x_test) > 0.9


@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
def test_cifar_npz_values_in_either_layout(tmp_path, layout):
    x_tr, x_te = _pattern(5, 3, 32, 32), _pattern(4, 3, 32, 32)[::-1]
    to = (lambda x: x.transpose(0, 2, 3, 1)) if layout == "nhwc" else (lambda x: x)
    np.savez(tmp_path / "c.npz", x_train=to(x_tr), y_train=np.array([3, 1, 4, 1, 5]),
             x_test=to(x_te), y_test=np.array([[9], [2], [6], [5]]))  # Keras stores labels as (N, 1)
    ds = load_dataset("cifar10", path=tmp_path / "c.npz")
    np.testing.assert_array_equal(ds.x_train, x_tr.astype(np.float32) / 255)
    np.testing.assert_array_equal(ds.x_test, x_te.astype(np.float32) / 255)
    assert ds.y_train.tolist() == [3, 1, 4, 1, 5] and ds.y_test.tolist() == [9, 2, 6, 5]
    # a channel swap (BGR) would be caught: the channels of the pattern all differ
    assert np.all(ds.x_train[:, 0] != ds.x_train[:, 2])


@pytest.mark.parametrize("source", ["idx", "npz"])
def test_mnist_values_orientation_and_labels(tmp_path, source):
    x_tr, x_te = _pattern(6, 1, 28, 28)[:, 0], _pattern(3, 1, 28, 28)[::-1, 0]
    y_tr, y_te = np.array([0, 9, 8, 1, 2, 7], np.uint8), np.array([5, 5, 3], np.uint8)
    if source == "idx":
        folder = tmp_path / "m"
        folder.mkdir()
        for stem, arr in (("train-images-idx3-ubyte", x_tr), ("train-labels-idx1-ubyte", y_tr),
                          ("t10k-images-idx3-ubyte", x_te), ("t10k-labels-idx1-ubyte", y_te)):
            write_idx(folder / stem, arr)
        path = folder
    else:
        path = tmp_path / "m.npz"
        np.savez(path, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    ds = load_dataset("mnist", path=path)
    np.testing.assert_array_equal(ds.x_train[:, 0], x_tr.astype(np.float32) / 255)  # [n, row, column]
    np.testing.assert_array_equal(ds.x_test[:, 0], x_te.astype(np.float32) / 255)
    np.testing.assert_array_equal(ds.y_train, y_tr)
    np.testing.assert_array_equal(ds.y_test, y_te)
    assert np.any(ds.x_train[:, 0] != ds.x_train[:, 0].transpose(0, 2, 1))  # a transposed read would differ


def test_npz_labels_and_images_are_checked(tmp_path):
    x = np.zeros((2, 28, 28), np.uint8)
    np.savez(tmp_path / "f.npz", x_train=x, y_train=np.array([0.5, 1.0]), x_test=x, y_test=np.array([0, 1]))
    with pytest.raises(ValueError, match="integer"):  # 0.5 used to be truncated to class 0
        load_dataset("mnist", path=tmp_path / "f.npz")
    xf = np.full((2, 28, 28), np.nan, np.float32)
    np.savez(tmp_path / "g.npz", x_train=xf, y_train=np.array([0, 1]), x_test=x, y_test=np.array([0, 1]))
    with pytest.raises(ValueError, match="finite"):
        load_dataset("mnist", path=tmp_path / "g.npz")


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


def test_synthetic_sets_refuse_a_path_and_absurd_sizes():
    with pytest.raises(ValueError, match="path is only used"):
        load_dataset("digits", path="/tmp")
    with pytest.raises(ValueError, match="n_train"):
        load_dataset("teacher_student", n_train=2**31, d=4)
    with pytest.raises(ValueError, match="seed"):
        load_dataset("teacher_student", seed=2**63)
