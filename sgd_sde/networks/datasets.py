r"""Data sets that need no download: scikit-learn's bundled digits, synthetic teacher–student
data, and MNIST / CIFAR-10 read from local files the user points to. Nothing here ever touches
the network.

Images are stored channels-first, ``(N, C, H, W)``, float32 in ``[0, 1]``; labels are int32.

* ``"digits"`` — scikit-learn's ``load_digits`` (1797 real 8×8 images, 10 classes, pixel values
  0–16 scaled by 1/16). Fixed split, no randomness: example ``i`` is a test example iff
  ``i % 5 == 4`` (359 test, 1438 train; the classes cycle through the file, so the split is
  close to stratified).
* ``"teacher_student"`` — ``x ~ N(0, I_d)``, labels ``argmax`` of a random one-hidden-layer tanh
  teacher's logits (optional label noise), generated from ``seed`` with ``jax.random``.
* ``"mnist"`` — a folder with the four IDX files (``train-images-idx3-ubyte`` … optionally
  ``.gz``) or an ``.npz`` with ``x_train, y_train, x_test, y_test`` (the Keras ``mnist.npz``).
* ``"cifar10"`` — a folder with the *binary* version (``data_batch_1.bin`` … ``data_batch_5.bin``,
  ``test_batch.bin``) or an ``.npz`` as above (``x`` as ``(N, 32, 32, 3)`` or ``(N, 3, 32, 32)``
  uint8). The Python-pickle version is refused: nothing is unpickled.
"""

from __future__ import annotations

import dataclasses
import gzip
import inspect
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validate as V

__all__ = ["Dataset", "load_dataset", "DATASETS", "read_idx"]

DATASETS = ("digits", "teacher_student", "mnist", "cifar10")
_MAX_BYTES = 4 << 30  # the largest synthetic data set generated in memory


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A train/test split held as NumPy arrays.

    Attributes:
        name: data-set name.
        x_train, y_train, x_test, y_test: inputs (float32) and integer labels (int32).
        n_classes: number of classes.
        metadata: how it was made (split rule, source files, seed).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, train={self.x_train.shape}, test={self.x_test.shape}, n_classes={self.n_classes})"

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> Dataset:
        """The first ``n_train`` training and ``n_test`` test examples (for quick runs)."""
        a = self.n_train if n_train is None else V.positive_int("n_train", n_train)
        b = self.x_test.shape[0] if n_test is None else V.positive_int("n_test", n_test)
        return dataclasses.replace(self, x_train=self.x_train[:a], y_train=self.y_train[:a], x_test=self.x_test[:b], y_test=self.y_test[:b])


def load_dataset(name: str, *, path: str | os.PathLike | None = None, **options) -> Dataset:
    """Load a data set by name, from memory or from local files only.

    Args:
        name: one of ``"digits"``, ``"teacher_student"``, ``"mnist"``, ``"cifar10"``.
        path: folder or ``.npz`` file (required for ``"mnist"`` and ``"cifar10"``).
        **options: for ``"teacher_student"``: ``n_train`` (1000), ``n_test`` (1000), ``d`` (20),
            ``n_classes`` (2), ``teacher_width`` (32), ``label_noise`` (0.0), ``seed`` (0).

    Returns:
        :class:`Dataset`.

    Raises:
        ValueError: unknown ``name``; a missing ``path`` (or one given to a data set that has no
            files); a missing or corrupt file (the message names ``path`` and the file); bad options
            (including a synthetic data set too large for memory).

    Examples:
        >>> ds = load_dataset("digits")
        >>> ds.x_train.shape, ds.x_test.shape, ds.n_classes
        ((1438, 1, 8, 8), (359, 1, 8, 8), 10)
        >>> load_dataset("teacher_student", n_train=100, d=5).x_train.shape
        (100, 5)
    """
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"name must be one of {DATASETS}, got name={name!r}")
    if name in ("digits", "teacher_student") and path is not None:
        raise ValueError(f"path is only used by 'mnist' and 'cifar10' (local files); {name!r} needs none, got path={path!r}")
    if name == "digits":
        _no_options(name, options)
        return _digits()
    if name == "teacher_student":
        _no_options(name, {k: v for k, v in options.items() if k not in _TEACHER_STUDENT}, known=_TEACHER_STUDENT)
        return _teacher_student(**options)
    _no_options(name, options)
    if path is None:
        raise ValueError(f"path is required for {name!r}: point it to local files (no download is ever attempted)")
    p = Path(path)
    if not p.exists():
        raise ValueError(f"path {str(p)!r} does not exist")
    if p.is_file():
        return _from_npz(name, p)
    return _mnist_idx(p) if name == "mnist" else _cifar_bin(p)


def _no_options(name, options, known=()):
    if options:
        raise ValueError(f"unknown options for {name!r}: {sorted(options)}; known: {list(known) or 'none'}")


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits as (images (1797, 8, 8) float64, target (1797,) int).

    Read from the file scikit-learn ships (``sklearn/datasets/data/digits.csv.gz``, one row per
    image: 64 pixels then the label), the way its ``load_digits`` reads it, without importing
    ``sklearn.datasets`` (about a second: it imports scipy.stats and pandas). Where the file is not
    at that place (another scikit-learn layout), ``load_digits`` itself."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    roots = [] if spec is None or spec.submodule_search_locations is None else list(spec.submodule_search_locations)
    for root in roots:
        csv = Path(root) / "datasets" / "data" / "digits.csv.gz"
        if csv.is_file():
            with gzip.open(csv, "rt") as fh:
                data = np.loadtxt(fh, delimiter=",")
            return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images, d.target


def _digits() -> Dataset:
    images, target = _digits_arrays()
    x = (images.astype(np.float32) / 16.0)[:, None, :, :]
    y = target.astype(np.int32)
    test = np.arange(x.shape[0]) % 5 == 4
    return Dataset("digits", x[~test], y[~test], x[test], y[test], 10, {"split": "test iff index % 5 == 4", "scale": "pixels / 16"})


def _teacher_student(*, n_train=1000, n_test=1000, d=20, n_classes=2, teacher_width=32, label_noise=0.0, seed=0) -> Dataset:
    import jax

    n_train = V.positive_int("n_train", n_train)
    n_test = V.positive_int("n_test", n_test)
    d = V.positive_int("d", d)
    c = V.positive_int("n_classes", n_classes)
    if c < 2:
        raise ValueError(f"n_classes must be >= 2, got n_classes={c}")
    h = V.positive_int("teacher_width", teacher_width)
    noise = V.as_float("label_noise", label_noise)
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"label_noise must lie in [0, 1], got label_noise={noise}")
    seed = V.as_int("seed", seed)
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must lie in [0, 2**63), got seed={seed}")
    n = n_train + n_test
    if n * (d + h + c) * 8 > _MAX_BYTES:
        raise ValueError(f"n_train + n_test = {n} examples with d={d}, teacher_width={h} need more than "
                         f"{_MAX_BYTES >> 30} GiB; reduce n_train/n_test/d")
    k = jax.random.split(jax.random.key(seed), 6)
    x = np.asarray(jax.random.normal(k[0], (n, d)), np.float32)
    w1 = np.asarray(jax.random.normal(k[1], (d, h)), np.float64) / np.sqrt(d)
    w2 = np.asarray(jax.random.normal(k[2], (h, c)), np.float64) / np.sqrt(h)
    y = np.argmax(np.tanh(x @ w1) @ w2, axis=1).astype(np.int32)
    flip = np.asarray(jax.random.uniform(k[3], (n,))) < noise
    y = np.where(flip, np.asarray(jax.random.randint(k[4], (n,), 0, c)), y).astype(np.int32)
    meta = dict(n_train=n_train, n_test=n_test, d=d, n_classes=c, teacher_width=h, label_noise=noise, seed=seed)
    return Dataset("teacher_student", x[:n_train], y[:n_train], x[n_train:], y[n_train:], c, meta)


_TEACHER_STUDENT = tuple(inspect.signature(_teacher_student).parameters)  # its options


# ---------------------------------------------------------------------------- local files
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(file: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (LeCun's MNIST format; ``.gz`` allowed).

    Raises:
        ValueError: naming the file if it is missing, truncated or has a bad header.
    """
    f = Path(file)
    if not f.exists():
        raise ValueError(f"path: file {str(f)!r} does not exist")
    try:
        raw = gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()
    except (OSError, EOFError) as err:
        raise ValueError(f"path: file {str(f)!r} is corrupt: {err}") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"path: file {str(f)!r} is not an IDX file (bad magic number)")
    ndim = raw[3]
    head = 4 + 4 * ndim
    if ndim == 0 or len(raw) < head:
        raise ValueError(f"path: file {str(f)!r} has a truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    need = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - head != need:
        raise ValueError(f"path: file {str(f)!r} is corrupt: header says {need} data bytes, found {len(raw) - head}")
    return np.frombuffer(raw, dtype=dtype, offset=head).reshape(shape)


def _find(folder: Path, stem: str) -> Path:
    for cand in (folder / stem, folder / (stem + ".gz"), folder / stem.replace("-idx", ".idx")):
        if cand.exists():
            return cand
    raise ValueError(f"path: {str(folder)!r} has no file {stem!r} (or {stem}.gz)")


def _check_pair(name, x, y, path):
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"path: {str(path)!r} is corrupt: {name} has {x.shape[0]} images and {y.shape[0]} labels")


def _finish(name, xtr, ytr, xte, yte, n_classes, path) -> Dataset:
    for split, x, y in (("train", xtr, ytr), ("test", xte, yte)):
        _check_pair(split, x, y, path)
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise ValueError(f"path: {str(path)!r} is corrupt: {split} images have dtype {x.dtype}, expected uint8 or float")
        if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
            raise ValueError(f"path: {str(path)!r} is corrupt: {split} images contain non-finite values")
        if not np.issubdtype(y.dtype, np.number) or np.iscomplexobj(y) or not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"path: {str(path)!r} is corrupt: {split} labels must be integer class indices")
        if y.min() < 0 or y.max() >= n_classes:
            raise ValueError(f"path: {str(path)!r} is corrupt: {split} labels outside [0, {n_classes})")
    scale = lambda x: (x.astype(np.float32) / 255.0) if x.dtype == np.uint8 else x.astype(np.float32)
    return Dataset(name, scale(xtr), ytr.astype(np.int32), scale(xte), yte.astype(np.int32), n_classes, {"source": str(path)})


def _mnist_idx(folder: Path) -> Dataset:
    xtr = read_idx(_find(folder, "train-images-idx3-ubyte"))
    ytr = read_idx(_find(folder, "train-labels-idx1-ubyte"))
    xte = read_idx(_find(folder, "t10k-images-idx3-ubyte"))
    yte = read_idx(_find(folder, "t10k-labels-idx1-ubyte"))
    if xtr.ndim != 3 or xte.ndim != 3 or ytr.ndim != 1 or yte.ndim != 1:
        raise ValueError(f"path: {str(folder)!r} holds IDX files of the wrong rank for MNIST")
    return _finish("mnist", xtr[:, None], ytr, xte[:, None], yte, 10, folder)


def _cifar_bin(folder: Path) -> Dataset:
    def read(stem):
        f = folder / stem
        if not f.exists():
            raise ValueError(f"path: {str(folder)!r} has no file {stem!r} (the CIFAR-10 binary version)")
        raw = np.frombuffer(f.read_bytes(), np.uint8)
        if raw.size == 0 or raw.size % 3073:
            raise ValueError(f"path: file {str(f)!r} is corrupt: size {raw.size} is not a multiple of 3073")
        rec = raw.reshape(-1, 3073)
        return rec[:, 1:].reshape(-1, 3, 32, 32), rec[:, 0]

    parts = [read(f"data_batch_{i}.bin") for i in range(1, 6)]
    xte, yte = read("test_batch.bin")
    return _finish("cifar10", np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), xte, yte, 10, folder)


def _from_npz(name: str, f: Path) -> Dataset:
    try:
        with np.load(f, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(f"path: file {str(f)!r} is corrupt or not an npz archive: {err}") from err
    missing = {"x_train", "y_train", "x_test", "y_test"} - set(arrays)
    if missing:
        raise ValueError(f"path: file {str(f)!r} lacks arrays {sorted(missing)}")
    xtr, xte = arrays["x_train"], arrays["x_test"]
    want = (1, 28, 28) if name == "mnist" else (3, 32, 32)
    fix = lambda x: _to_nchw(x, want, f)
    return _finish(name, fix(xtr), arrays["y_train"].reshape(-1), fix(xte), arrays["y_test"].reshape(-1), 10, f)


def _to_nchw(x, want, f):
    if x.ndim == 3 and want[0] == 1:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] == want[0] and x.shape[1:] != want:
        x = np.transpose(x, (0, 3, 1, 2))
    if x.shape[1:] != want:
        raise ValueError(f"path: file {str(f)!r} has images of shape {x.shape[1:]}, expected {want}")
    return x
