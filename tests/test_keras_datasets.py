"""Built-in datasets: fetched into Keras's cache from a real HTTP server, checked, unpacked in
Keras's layout, read without TensorFlow; offline and damaged downloads said at the spec's line.

The server runs on this machine and serves a small archive in CIFAR-10's published format (the
python pickles of keras.datasets), made from the real JPEGs in tests/data. Nothing is mocked: the
same code that fetches the 170 MB archive for a user fetches this one.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import pickle
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from layerkit.data import keras_datasets
from layerkit.data.dataset import DataError
from layerkit.data.downloads import DownloadError, RemoteFile
from layerkit.data.keras_datasets import BUILTINS, fetch
from layerkit.data.load import announcer, fetch_builtin, load_dataset, resolve_source
from layerkit.errors import SpecError

from .conftest import DATA, ROOT

ARCHIVE = DATA / "cifar10-600.tar.gz"
CIFAR = BUILTINS["cifar10"]


def real_images(per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` real CIFAR-10 JPEGs of each class, decoded, with their labels."""
    from PIL import Image

    images, labels = [], []
    with tarfile.open(ARCHIVE) as archive:
        for member in sorted(archive.getmembers(), key=lambda member: member.name):
            parts = member.name.split("/")
            if member.isfile() and int(parts[2][:4]) < per_class:
                with Image.open(archive.extractfile(member)) as image:
                    images.append(np.asarray(image.convert("RGB")))
                labels.append(keras_datasets.CIFAR10_CLASSES.index(parts[1]))
    return np.stack(images), np.array(labels)


def cifar_python_archive(x: np.ndarray, y: np.ndarray) -> bytes:
    """A cifar-10-python.tar.gz as published: five training batches and a test batch of pickled
    dicts (bytes keys, rows of 3072 channel-first pixels), the last tenth of ``x`` the test set."""
    rows = x.transpose(0, 3, 1, 2).reshape(len(x), -1)
    test = len(x) // 10
    parts = np.array_split(np.arange(len(x) - test), 5)
    batches = {f"data_batch_{i + 1}": part for i, part in enumerate(parts)}
    batches["test_batch"] = np.arange(len(x) - test, len(x))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, index in batches.items():
            data = pickle.dumps({b"data": rows[index], b"labels": [int(v) for v in y[index]]})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Server:
    """A real HTTP server on 127.0.0.1 serving ``files`` (name → bytes); ``cut`` names files whose
    body stops halfway while the header promises all of it."""

    def __init__(self, files: dict[str, bytes], cut: tuple[str, ...] = ()) -> None:
        self.requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                owner.requests.append(self.path)
                if name not in files:
                    self.send_error(404)
                    return
                body = files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if name in cut else body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/datasets"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def small_cifar() -> tuple[bytes, np.ndarray, np.ndarray]:
    x, y = real_images(per_class=10)
    return cifar_python_archive(x, y), x, y


@pytest.fixture
def server(small_cifar) -> Iterator[Server]:
    served = Server({"cifar-10-python.tar.gz": small_cifar[0]})
    yield served
    served.close()


@pytest.fixture
def keras_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path / "keras" / "datasets"


def served_file(server: Server, body: bytes) -> RemoteFile:
    """The table's CIFAR-10 entry, fetched from ``server`` and checked against ``body``'s hash."""
    published = CIFAR.files[0]
    return RemoteFile(
        f"{server.url}/cifar-10-python.tar.gz",
        published.path,
        hashlib.sha256(body).hexdigest(),
        published.unpack_to,
    )


def test_a_download_lands_in_keras_layout_and_reads_back_the_images(
    small_cifar, server, keras_home
):
    body, x, y = small_cifar
    seen: list[tuple[int, int | None]] = []
    folder = fetch(
        "cifar10",
        lambda url, done, total: seen.append((done, total)),
        files=(served_file(server, body),),
    )
    # where keras.datasets.cifar10.load_data() (Keras 3) keeps it
    assert folder == keras_home / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    assert (keras_home / "cifar-10-batches-py-target_archive").read_bytes() == body
    assert sorted(path.name for path in folder.iterdir()) == [
        *(f"data_batch_{i}" for i in range(1, 6)),
        "test_batch",
    ]
    assert [name for name in keras_home.iterdir() if name.name.startswith(".")] == []
    assert seen[0] == (0, len(body)) and seen[-1] == (len(body), len(body))
    assert server.requests == ["/datasets/cifar-10-python.tar.gz"]

    dataset = load_dataset("cifar10", (32, 32, 3))
    assert dataset.class_names == keras_datasets.CIFAR10_CLASSES
    assert dataset.x.shape == (90, 32, 32, 3) and dataset.x_test.shape == (10, 32, 32, 3)
    assert np.array_equal(np.concatenate([dataset.x, dataset.x_test]), x)
    assert np.array_equal(np.concatenate([dataset.y, dataset.y_test]), y)
    # an existing cache is used as it is: no second request
    assert fetch("cifar10", files=(served_file(server, body),)) == folder
    assert len(server.requests) == 1


@pytest.mark.slow
def test_the_batches_read_as_keras_reads_them(small_cifar, server, keras_home):
    from keras.src.datasets.cifar import load_batch

    folder = fetch("cifar10", files=(served_file(server, small_cifar[0]),))
    ours = keras_datasets._cifar_batch(folder / "data_batch_2", "labels")
    theirs, labels = load_batch(str(folder / "data_batch_2"))
    assert np.array_equal(ours[0], theirs.transpose(0, 2, 3, 1))
    assert np.array_equal(ours[1], labels)


def test_tf_keras_2_layout_is_used_as_it_is(small_cifar, keras_home):
    with tarfile.open(fileobj=io.BytesIO(small_cifar[0])) as archive:
        archive.extractall(keras_home, filter="data")  # → datasets/cifar-10-batches-py/
    assert fetch("cifar10") == keras_home / "cifar-10-batches-py"  # no server: nothing fetched
    assert len(load_dataset("cifar10", (32, 32, 3))) == 90


def test_a_file_that_is_not_the_published_one_is_refused_and_removed(server, keras_home):
    published = CIFAR.files[0]
    wrong = RemoteFile(f"{server.url}/cifar-10-python.tar.gz", published.path, "0" * 64,
                       published.unpack_to)  # fmt: skip
    with pytest.raises(DownloadError) as caught:
        fetch("cifar10", files=(wrong,))
    assert caught.value.problem.startswith(
        f"{server.url}/cifar-10-python.tar.gz is not the file keras.datasets expects for "
        "'cifar10' (SHA-256 "
    )
    assert caught.value.problem.endswith(", expected 0000000000000000…)")
    assert list(keras_home.iterdir()) == []


def test_a_download_cut_short_leaves_nothing(small_cifar, keras_home):
    served = Server({"cifar-10-python.tar.gz": small_cifar[0]}, cut=("cifar-10-python.tar.gz",))
    try:
        with pytest.raises(DownloadError, match=r"stopped after [\d,]+ of [\d,]+ bytes"):
            fetch("cifar10", files=(served_file(served, small_cifar[0]),))
    finally:
        served.close()
    assert list(keras_home.iterdir()) == []


def test_a_tampered_cache_cannot_run_code(keras_home):
    folder = keras_home / "cifar-10-batches-py"
    folder.mkdir(parents=True)

    class Exploit:
        def __reduce__(self):
            return (print, ("ran",))

    for name in ("data_batch_1", "test_batch"):
        (folder / name).write_bytes(pickle.dumps({b"data": Exploit(), b"labels": []}))
    with pytest.raises(DataError, match=r"is not a CIFAR batch as keras.datasets writes it "
                       r"\(refusing to load builtins.print\)"):  # fmt: skip
        load_dataset("cifar10", (32, 32, 3))


def test_the_shipped_specs_name_the_builtin_dataset():
    from layerkit.spec.loader import load_spec

    for name in ("cifar.yaml", "cifar-fast.yaml"):
        spec = load_spec(ROOT / "specs" / name)
        assert spec.data.source == "cifar10"
        location = spec.data.locations["source"]
        assert resolve_source(None, spec.data.source, spec.file, location) == "cifar10"


def test_a_missing_source_is_refused_at_its_line(write_spec):
    path = write_spec("""
        name: t
        input: [8]
        layers:
          - dense: {units: 2, activation: softmax}
        data:
          source: cifar-10
    """)
    with pytest.raises(SpecError) as caught:
        resolve_source(None, "cifar-10", str(path), location_of_source(path))
    assert caught.value.format() == (
        f"{path}:6:11: error: data.source: 'cifar-10' is neither a file or folder (looked for "
        f"{path.parent / 'cifar-10'}) nor a built-in dataset (cifar10, cifar100, mnist, "
        "fashion_mnist). Did you mean 'cifar10'?"
    )


def location_of_source(path: Path):
    from layerkit.spec.loader import load_spec

    return load_spec(path).data.locations["source"]


def test_offline_is_said_at_the_spec_line_before_tensorflow_and_leaves_nothing(tmp_path):
    """The whole command, in a fresh interpreter: exit 2 at data.source, TensorFlow never
    imported, no run directory, nothing in the cache."""
    spec = tmp_path / "cifar.yaml"
    spec.write_text((ROOT / "specs" / "cifar.yaml").read_text())
    probe = (
        "import sys\n"
        "from layerkit.cli import main\n"
        "try:\n"
        "    main(['train', 'cifar.yaml', '--augment', '--epochs', '1'])\n"
        "except SystemExit as exit:\n"
        "    print('exit', exit.code, 'tensorflow' in sys.modules)\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "KERAS_HOME": str(tmp_path / "keras"),
        "LAYERKIT_DATASETS_MIRROR": "http://127.0.0.1:9",  # nothing listens there: offline
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.stdout.splitlines()[-1] == "exit 2 False"
    line = (
        "cifar.yaml:71:11: error: data.source: the built-in dataset 'cifar10' is not in Keras's "
        f"cache ({tmp_path / 'keras' / 'datasets'}) and could not be downloaded from "
        "http://127.0.0.1:9/cifar-10-python.tar.gz ([Errno 111] Connection refused). Connect to "
        "the internet and run again, or download "
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and save it as "
        f"{tmp_path / 'keras' / 'datasets' / 'cifar-10-batches-py-target_archive'}, or give "
        "--data PATH (a folder or archive of class folders, or an .npz with x_train and y_train)"
    )
    assert done.stderr.strip() == line
    assert not (tmp_path / "runs").exists()
    assert list((tmp_path / "keras" / "datasets").iterdir()) == []


def test_a_mirror_serving_another_file_is_refused_at_the_spec_line(small_cifar, keras_home,
                                                                   write_spec, monkeypatch):  # fmt: skip
    served = Server({"cifar-10-python.tar.gz": small_cifar[0]})
    monkeypatch.setenv("LAYERKIT_DATASETS_MIRROR", served.url)
    path = write_spec("""
        name: t
        input: [32, 32, 3]
        layers:
          - flatten
          - dense: {units: 10, activation: softmax}
        data: {source: cifar10}
    """)
    try:
        with pytest.raises(SpecError) as caught:
            fetch_builtin("cifar10", location_of_source(path), None)
    finally:
        served.close()
    assert caught.value.format().startswith(
        f"{path}:6:16: error: data.source: {served.url}/cifar-10-python.tar.gz is not the file "
        "keras.datasets expects for 'cifar10' (SHA-256 "
    )
    assert caught.value.fix.startswith("Download https://www.cs.toronto.edu/~kriz/")
    assert list(keras_home.iterdir()) == []


def test_the_progress_bar_follows_a_real_download(small_cifar, server, keras_home):
    from rich.console import Console

    from layerkit.console.output import download_progress

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    with download_progress(console, enabled=True) as progress:
        fetch("cifar10", progress, files=(served_file(server, small_cifar[0]),))
    shown = screen.getvalue()
    size = f"{len(small_cifar[0]) / 1000:.1f}/{len(small_cifar[0]) / 1000:.1f} kB"
    assert "downloading cifar-10-python.tar.gz" in shown and size in shown


def test_without_a_progress_bar_a_download_is_told_to_the_reporter(small_cifar, server,
                                                                    keras_home, capsys):  # fmt: skip
    said: list[str] = []
    fetch("cifar10", announcer(said.append), files=(served_file(server, small_cifar[0]),))
    url = f"{server.url}/cifar-10-python.tar.gz"
    size = f"{len(small_cifar[0]) / 1e6:.1f} MB"
    assert said == [f"downloading {url} ({size}) into Keras's dataset cache…", f"downloaded {url}"]
    assert capsys.readouterr() == ("", "")  # the stage itself prints nothing
    assert announcer(None) is None  # nobody to tell: no progress callback at all


@pytest.mark.slow
def test_train_reads_the_fetched_cache(small_cifar, server, keras_home, runner, write_spec,
                                       tmp_path):  # fmt: skip
    from layerkit.cli import main

    fetch("cifar10", files=(served_file(server, small_cifar[0]),))
    server.close()  # from here on, only the cache
    spec = write_spec("""
        name: tiny
        input: [32, 32, 3]
        layers:
          - conv2d: {filters: 4, kernel_size: 3, activation: relu}
          - global_average_pooling2d
          - dense: {units: 10, activation: softmax}
        data: {source: cifar10}
        train: {epochs: 1, batch_size: 30, validation_split: 30}
    """)
    result = runner.invoke(main, ["train", str(spec), "--out", str(tmp_path / "run"), "--plain"])
    assert result.exit_code == 0, result.output
    assert "60 training and 30 validation images (10 classes)" in result.output
    setup = json.loads((tmp_path / "run" / "setup.json").read_text())
    assert setup["source"] == "cifar10"
    environment = json.loads((tmp_path / "run" / "environment.json").read_text())
    assert tuple(environment["class_names"]) == keras_datasets.CIFAR10_CLASSES
