"""The settings of fast recipe 3 (issue 20) that act on the weights, on real CIFAR-10 images:
``train.lookahead``, ``train.lr_scale`` and ``train.init`` (dirac and patch-whitening).

Each setting is checked against a hand computation on a small model, in a real run, and refused at
its line by ``layerkit validate`` when misspelt; that a run using it resumes exactly is checked
with the other settings in tests/test_resume_exact.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from layerkit.cli import main

from .conftest import NO_NCHW, cifar_subset, nchw_convolutions_run

SPEC = """\
name: settings
input: [32, 32, 3]
layers: [flatten, {dense: {units: 10, activation: softmax}}]
train:
"""


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """16 real CIFAR-10 images per class, as an array of float32 pixels and their labels."""
    from layerkit.data.load import load_dataset

    archive = cifar_subset(tmp_path_factory.mktemp("recipe") / "cifar160.tar", 16)
    dataset = load_dataset(str(archive), (32, 32, 3))
    return dataset.x.astype("float32"), dataset.y


# -- lookahead ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alpha", "ramp", "fractions"),
    [
        (0.5, 0.0, [0.5, 0.5]),  # half way at steps 3 and 6
        # airbench's schedule: from 1 at the first step to 0.2 at the last, 7, by the cube
        (0.2, 3.0, [1 - 0.8 * (3 / 7) ** 3, 1 - 0.8 * (6 / 7) ** 3]),
    ],
)
def test_lookahead_follows_a_hand_computation(images, alpha, ramp, fractions):
    """A linear model under plain SGD with a mean-squared error, whose gradient is written out:
    every 3 steps the slow weights move the fraction of the way to the fast ones that ``alpha``
    and ``ramp`` give for that step, and the fast ones restart from them."""
    import keras

    from layerkit.spec.settings import Lookahead
    from layerkit.training.lookahead import LookaheadUpdate, slow_weights_layer

    x_all, y_all = images
    x = (x_all[:112, ::8, ::8, :].reshape(112, -1) / 255).astype("float32")  # 48 features
    y = np.eye(10, dtype="float32")[y_all[np.r_[0:112] * 160 // 112 % 160]]
    keras.utils.set_random_seed(2)
    inner = keras.Sequential([keras.Input((48,)), keras.layers.Dense(10, use_bias=False)])
    start = keras.ops.convert_to_numpy(inner.weights[0]).astype("float64")
    inputs = keras.Input((48,))
    slow_layer = slow_weights_layer(inner)
    trainer = keras.Model(inputs, inner(slow_layer(inputs)))
    trainer.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    update = LookaheadUpdate(inner, slow_layer, Lookahead(every=3, alpha=alpha, ramp=ramp), 7)
    trainer.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[update])

    fast, slow = start.copy(), start.copy()
    for step in range(7):  # 112 images in batches of 16
        xb, yb = x[step * 16 : (step + 1) * 16].astype("float64"), y[step * 16 : (step + 1) * 16]
        fast -= 0.5 * 2 / (16 * 10) * xb.T @ (xb @ fast - yb)
        if (step + 1) % 3 == 0:
            slow += fractions[step // 3] * (fast - slow)
            fast = slow.copy()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(inner.weights[0]), fast, rtol=1e-4,
                               atol=1e-6)  # fmt: skip
    np.testing.assert_allclose(keras.ops.convert_to_numpy(slow_layer.slow[0]), slow, rtol=1e-4,
                               atol=1e-6)  # fmt: skip
    assert not np.allclose(fast, slow, atol=1e-4)  # step 7 moved the fast weights on
    # without Lookahead the same steps end elsewhere
    plain = start.copy()
    for step in range(7):
        xb, yb = x[step * 16 : (step + 1) * 16].astype("float64"), y[step * 16 : (step + 1) * 16]
        plain -= 0.5 * 2 / (16 * 10) * xb.T @ (xb @ plain - yb)
    assert not np.allclose(plain, fast, atol=1e-4)


def test_lookahead_updates_at_every_kth_step_when_a_loss_scale_skips_some():
    """Under mixed precision a step with an overflow is skipped (the optimizer's count stays); the
    slow weights still move at steps 3, 6 and 9, once each, though the count is read only now and
    then."""
    import keras

    from layerkit.spec.settings import Lookahead
    from layerkit.training.lookahead import LookaheadUpdate, slow_weights_layer

    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    slow = slow_weights_layer(inner)
    slow.build((None, 4))
    update = LookaheadUpdate(inner, slow, Lookahead(every=3), 12)
    counts = iter([0, 1, 1, 2, 3, 4, 5, 6, 6, 7, 8, 9, 10])  # the steps after each batch
    current = {"steps": 0}
    reads, updated = [], []

    def steps() -> int:
        reads.append(current["steps"])
        return current["steps"]

    update.steps, update.update = steps, lambda alpha: updated.append((current["steps"], alpha))
    current["steps"] = next(counts)
    update.on_train_begin()
    for batch, value in enumerate(counts):
        current["steps"] = value
        update.on_train_batch_end(batch)
    assert updated == [(3, 0.5), (6, 0.5), (9, 0.5)]
    assert len(reads) < 12  # not after every batch


def assert_validate_says(line, message, validate_text):
    """``layerkit validate`` of SPEC with ``line`` added under train: exits 2 with ``message``
    as its first line."""
    result = validate_text(f"{SPEC}  {line}\n")
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == message


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("lookahead: {every: 0}",
         "spec.yaml:5:22: error: train.lookahead.every: expected an integer of at least 1, "
         "received int 0"),
        ("lookahead: {every: 5, alpha: 1.5}",
         "spec.yaml:5:32: error: train.lookahead.alpha: expected a fraction above 0 and at most 1, "
         "received 1.5. Write e.g. 'lookahead: {every: 5, alpha: 0.5}'."),
        ("lookahead: 5",
         "spec.yaml:5:14: error: train.lookahead: expected {every: N, alpha: X, ramp: X}, received int 5. "
         "Write e.g. 'lookahead: {every: 5, alpha: 0.5}'."),
        ("lookahead: {every: 5, alpha: 0.226, ramp: -3}",
         "spec.yaml:5:45: error: train.lookahead.ramp: expected a number from 0 to 10, received "
         "-3. Write e.g. 'lookahead: {every: 5, alpha: 0.226, ramp: 3}' (airbench's)."),
        ("lookahead: {evry: 5}",
         "spec.yaml:5:15: error: train.lookahead.evry: unknown train.lookahead setting 'evry'. "
         "Did you mean 'every'?"),
    ],
)  # fmt: skip
def test_lookahead_mistakes_are_refused_at_their_line(line, message, validate_text):
    assert_validate_says(line, message, validate_text)


def test_lookahead_is_read_with_its_defaults(write_spec):
    from layerkit import load_spec
    from layerkit.spec.settings import Lookahead

    spec = write_spec(SPEC + "  lookahead: {every: 3}\n")
    assert load_spec(spec).train.lookahead == Lookahead(every=3, alpha=0.5)
    assert load_spec(write_spec(SPEC + "  lookahead: {}\n")).train.lookahead == Lookahead()
    ramped = load_spec(write_spec(SPEC + "  lookahead: {alpha: 0.226, ramp: 3}\n")).train.lookahead
    assert ramped == Lookahead(every=5, alpha=0.226, ramp=3)
    # airbench's update keeps 0.95**5 × (step / steps)**3 of the slow weights (0.226 rounds
    # 1 − 0.95**5); past the last step the fraction stays at alpha
    airbench = Lookahead(alpha=1 - 0.95**5, ramp=3)
    for step in (0, 5, 350, 700, 900):
        kept = 0.95**5 * min(1, step / 700) ** 3
        assert airbench.fraction(step, 700) == pytest.approx(1 - kept, abs=1e-12)
    assert ramped.fraction(0, 700) == 1 and ramped.fraction(900, 700) == pytest.approx(0.226)
    assert Lookahead(alpha=0.3).fraction(5, 700) == 0.3
    assert load_spec(write_spec(SPEC + "  lookahead: null\n")).train.lookahead is None


# -- lr_scale ----------------------------------------------------------------------------------


def short(weight) -> str:
    """A weight's layer and name (the model's own name differs from model to model)."""
    return "/".join(weight.path.split("/")[-2:])


def grouped_model(seed: int = 3):
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(4, 3, strides=2, name="conv"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.ReLU(),
        keras.layers.Flatten(),
        keras.layers.LayerNormalization(name="ln"),
        keras.layers.Dense(10, activation="softmax", name="dense"),
    ])  # fmt: skip


LR_SCALE_ON_A_BACKEND = """
import json, sys
import keras
import numpy as np
from layerkit.errors import Location
from layerkit.spec.settings import Choice, TrainSettings
from layerkit.training.optimizers import make_optimizer, scale_learning_rates

arrays = np.load(sys.argv[1])
batch, labels = arrays["x"], arrays["y"]
settings = TrainSettings(optimizer=Choice("sgd", {"learning_rate": 0.1}, Location("<test>", 1, 1)),
                         lr_scale=(("normalization_bias", 64.0), ("kernel", 0.5)))
moved = []
for scales in ((), settings.lr_scale):
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Conv2D(4, 3, strides=2, name="conv"),
                              keras.layers.BatchNormalization(name="bn"), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax", name="dense")])
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    model.compile(optimizer=make_optimizer(settings, 1), loss="categorical_crossentropy")
    scale_learning_rates(model.optimizer, model, scales)
    model.train_on_batch(batch, labels)
    moved.append({w.path.split("/")[-2] + "/" + w.name: float(
        np.abs(keras.ops.convert_to_numpy(w) - b).sum() / max(np.abs(b).sum(), 1e-12))
        for w, b in zip(model.trainable_weights, before)})
step = {name: moved[1][name] / moved[0][name] for name in moved[0]}
print(json.dumps({"backend": keras.backend.backend(), "ratios": step}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_lr_scale_scales_the_steps_on_every_backend(images, tmp_path, backend):
    """Keras's PyTorch optimizers update all weights in one call that never reaches the
    per-weight step lr_scale scales: there it is stepped weight by weight, and the factors hold
    as on TensorFlow (and JAX)."""
    import importlib.util
    import json
    import os
    import subprocess
    import sys

    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    x, y = images
    np.savez(tmp_path / "batch.npz", x=x[::5], y=np.eye(10, dtype="float32")[y[::5]])
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", LR_SCALE_ON_A_BACKEND, str(tmp_path / "batch.npz")],
                          capture_output=True, text=True, env=environment, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backend"] == backend
    ratios = result["ratios"]
    assert ratios["bn/beta"] == pytest.approx(64.0, rel=2e-3)
    assert ratios["conv/kernel"] == pytest.approx(0.5, rel=2e-3)
    assert ratios["dense/kernel"] == pytest.approx(0.5, rel=2e-3)
    assert ratios["bn/gamma"] == pytest.approx(1.0, rel=2e-3)
    assert ratios["dense/bias"] == pytest.approx(1.0, rel=2e-3)


def test_weights_fall_into_the_documented_groups():
    from layerkit.training.optimizers import weight_groups

    model = grouped_model()
    groups = {short(weight): group for group, weight in weight_groups(model).values()}
    assert groups == {
        "conv/kernel": "kernel", "conv/bias": "bias",
        "bn/gamma": "normalization_scale", "bn/beta": "normalization_bias",
        "ln/gamma": "normalization_scale", "ln/beta": "normalization_bias",
        "dense/kernel": "kernel", "dense/bias": "bias",
    }  # fmt: skip


@pytest.mark.parametrize(
    "optimizer",
    [{"sgd": {"learning_rate": 0.1, "weight_decay": 0.05}}, {"adam": {"learning_rate": 0.01}}],
    ids=["sgd_weight_decay", "adam"],
)
def test_lr_scale_multiplies_each_groups_step(images, optimizer):
    """One step of a model with lr_scale against the same step without: each weight moves its
    group's factor times as far (weight decay, decoupled, still at the unscaled rate)."""
    import keras

    from layerkit.errors import Location
    from layerkit.spec.settings import Choice, TrainSettings
    from layerkit.training.optimizers import make_optimizer, scale_learning_rates, weight_groups

    x, y = images
    batch, labels = x[::5], np.eye(10, dtype="float32")[y[::5]]  # 32 real images, all classes
    factors = {"normalization_bias": 64.0, "kernel": 0.5, "normalization_scale": 2.0}
    ((name, args),) = optimizer.items()
    settings = TrainSettings(optimizer=Choice(name, args, Location("<test>", 1, 1)),
                             lr_scale=tuple(factors.items()))  # fmt: skip
    moved = {}
    for scales in ((), settings.lr_scale):
        model = grouped_model()
        before = {short(w): keras.ops.convert_to_numpy(w) for w in model.trainable_weights}
        model.compile(optimizer=make_optimizer(settings, 1), loss="categorical_crossentropy")
        scale_learning_rates(model.optimizer, model, scales)
        model.train_on_batch(batch, labels)
        decay = args.get("weight_decay", 0.0) * args["learning_rate"]
        moved[bool(scales)] = {  # the step, less the weight decay
            short(w): keras.ops.convert_to_numpy(w) - before[short(w)] * (1 - decay)
            for w in model.trainable_weights
        }
    for group, weight in weight_groups(grouped_model()).values():
        factor = factors.get(group, 1.0)
        plain, scaled = moved[False][short(weight)], moved[True][short(weight)]
        assert np.abs(plain).max() > 0, short(weight)
        np.testing.assert_allclose(scaled, factor * plain, rtol=2e-3, atol=1e-7,
                                   err_msg=short(weight))  # fmt: skip


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("lr_scale: {normalisation_bias: 64}",
         "spec.yaml:5:14: error: train.lr_scale.normalisation_bias: unknown train.lr_scale setting "
         "'normalisation_bias'. Did you mean 'normalization_bias'?"),
        ("lr_scale: {bias: 0}",
         "spec.yaml:5:20: error: train.lr_scale.bias: expected a finite factor above 0, received 0. "
         "Write e.g. 'lr_scale: {normalization_bias: 64}'."),
        ("lr_scale: 64",
         "spec.yaml:5:13: error: train.lr_scale: expected groups of weights and their factors, "
         "received int 64. Write e.g. 'lr_scale: {normalization_bias: 64}'."),
    ],
)  # fmt: skip
def test_lr_scale_mistakes_are_refused_at_their_line(line, message, validate_text):
    assert_validate_says(line, message, validate_text)


# -- init: dirac and whiten --------------------------------------------------------------------


def conv_stack(seed: int = 5):
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(32, 3, padding="same", name="first"),
        keras.layers.Conv2D(8, 3, padding="same", name="wider_in"),
        keras.layers.Conv2D(16, 3, padding="same", name="wider_out"),
        keras.layers.Conv2D(4, 3, padding="same", groups=2, name="grouped"),
    ])  # fmt: skip


def test_dirac_convolutions_pass_their_first_channels_through(images):
    import keras

    from layerkit.spec.settings import Init, Normalize
    from layerkit.training.initialization import initialize

    x = images[0][:16] / 255
    model = conv_stack()
    before = {layer.name: keras.ops.convert_to_numpy(layer.kernel) for layer in model.layers}
    initialize(model, Init(dirac=True), x, Normalize())
    after = {layer.name: keras.ops.convert_to_numpy(layer.kernel) for layer in model.layers}
    for name in ("first", "wider_in", "wider_out"):
        layer = model.get_layer(name)
        seen = keras.Model(model.inputs, layer.input).predict(x, verbose=0)
        out = keras.ops.convert_to_numpy(layer(seen))  # the biases are Keras's zeros
        count = min(seen.shape[-1], out.shape[-1])
        np.testing.assert_allclose(out[..., :count], seen[..., :count], atol=1e-6, err_msg=name)
        # the other filters keep Keras's initial values (airbench: dirac_ on the first filters)
        assert np.array_equal(after[name][..., count:], before[name][..., count:])
    assert np.array_equal(after["grouped"], before["grouped"])  # groups: 2 is left alone


def moments_by_hand(x: np.ndarray) -> np.ndarray:
    """The second moments of every 3x3 patch, each flattened (row, column, channel)."""
    rows = [x[:, i : i + 30, j : j + 30, :] for i in range(3) for j in range(3)]
    patches = np.stack(rows, axis=3).reshape(-1, 27).astype("float64")  # (.., 9 taps, 3 channels)
    return patches.T @ patches / len(patches)


def test_whitening_makes_the_first_convolutions_responses_uncorrelated(images):
    import keras

    from layerkit.spec.settings import Init, Normalize
    from layerkit.training.initialization import initialize

    x = images[0][:64]
    normalize = Normalize(scale=1 / 255, mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26))
    scaled = (x / 255 - np.array([0.49, 0.48, 0.45])) / np.array([0.25, 0.24, 0.26])
    model = conv_stack()
    before = keras.ops.convert_to_numpy(model.get_layer("wider_in").kernel)
    initialize(model, Init(whiten=True, whiten_eps=5e-4), x, normalize)
    first = model.get_layer("first")
    out = keras.ops.convert_to_numpy(first(scaled.astype("float32")))[:, 1:31, 1:31, :]
    responses = out.reshape(-1, 32).astype("float64")
    eigenvalues = np.sort(np.linalg.eigvalsh(moments_by_hand(scaled)))[::-1]
    # 27 filters, largest eigenvalue first, each with variance eigenvalue / (eigenvalue + eps),
    # uncorrelated with the others; the last 5 are the first 5 negated
    second = responses[:, :27].T @ responses[:, :27] / len(responses)
    np.testing.assert_allclose(np.diag(second), eigenvalues / (eigenvalues + 5e-4), rtol=1e-3)
    assert np.abs(second - np.diag(np.diag(second))).max() < 1e-3
    np.testing.assert_allclose(responses[:, 27:], -responses[:, :5], rtol=1e-5, atol=1e-5)
    # the other convolutions are left as they were, and every weight is still trainable
    assert np.array_equal(keras.ops.convert_to_numpy(model.get_layer("wider_in").kernel), before)
    assert first.kernel.trainable


INIT_RUN = """\
name: initialised
input: [32, 32, 3]
layers:
  - conv2d: {filters: 32, kernel_size: 3, padding: same, activation: relu}
  - conv2d: {filters: 16, kernel_size: 3, padding: same, activation: relu}
  - global_average_pooling2d
  - dense: {units: 10, activation: softmax}
data:
  normalize: {scale: 0.00392156862745098}
train:
  optimizer: {sgd: {learning_rate: 1.0e-12}}   # the weights stay where they started
  init: {dirac: true, whiten: true}
  batch_size: 64
  epochs: 1
  validation_split: 20
  seed: 2
expect:
  total_params: 5690
"""


def first_kernel_after_dirac(run):
    """The first conv2d's kernel of INIT_RUN's trained ``run``, having checked that its second
    conv2d (32 -> 16 channels, which a rate of 1e-12 leaves where it started) is the identity."""
    import keras

    model = keras.saving.load_model(run / "model_last.keras")
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    first, second = (keras.ops.convert_to_numpy(layer.kernel) for layer in convolutions)
    identity = np.zeros((3, 3, 32, 16), "float32")
    identity[1, 1, np.arange(16), np.arange(16)] = 1
    np.testing.assert_allclose(second, identity, atol=1e-6)
    return first


@pytest.mark.slow
def test_a_new_run_starts_from_whitened_and_dirac_convolutions(tmp_path, runner, monkeypatch):

    from layerkit.data.load import load_dataset, split
    from layerkit.training.initialization import whitening_sample

    archive = cifar_subset(tmp_path / "cifar.tar", 16)
    monkeypatch.setenv("LAYERKIT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "spec.yaml").write_text(INIT_RUN, encoding="utf-8")
    assert runner.invoke(main, ["build", str(tmp_path / "spec.yaml")]).exit_code == 0  # counts ✓
    result = runner.invoke(main, ["train", str(tmp_path / "spec.yaml"), "--data", str(archive),
                                  "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 0, result.output
    first = first_kernel_after_dirac(tmp_path / "run")
    # the whitening of the training images' patches, measured on the seeded sample
    dataset = load_dataset(str(archive), (32, 32, 3))
    train_index, _ = split(dataset, 20, 2)
    scaled = dataset.x[whitening_sample(train_index, 2)].astype("float64") / 255
    eigenvalues, eigenvectors = np.linalg.eigh(moments_by_hand(scaled))
    top = eigenvectors[:, -1] / np.sqrt(eigenvalues[-1] + 5e-4)
    filter0 = first[..., 0].reshape(-1)
    np.testing.assert_allclose(filter0 * np.sign(filter0 @ top), top, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(first[..., 27], -first[..., 0], atol=1e-6)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (SPEC + "  init: {whiten: true}\n",
         "spec.yaml:5:9: error: train.init.whiten: init.whiten sets the first conv2d from patches "
         "of the training images, but the model has no conv2d layer (with groups: 1). Remove "
         "'whiten: true'."),
        (INIT_RUN,
         None),
        (INIT_RUN.replace("  - conv2d: {filters: 16, kernel_size: 3, padding: same, activation: "
                          "relu}\n", ""),
         "spec.yaml:11:9: error: train.init.dirac: init.dirac starts conv2d layers as identities, "
         "but the model has no conv2d layer (with groups: 1) beside the whitened one. Remove "
         "'dirac: true'."),
        (SPEC + "  init: {dirak: true}\n",
         "spec.yaml:5:10: error: train.init.dirak: unknown train.init setting 'dirak'. Did you "
         "mean 'dirac'?"),
        (SPEC + "  init: {whiten_eps: 0}\n",
         "spec.yaml:5:22: error: train.init.whiten_eps: expected a number above 0 (such as "
         "0.0005), received 0"),
        (SPEC + "  init: dirac\n",
         "spec.yaml:5:9: error: train.init: expected {dirac: true, whiten: true, whiten_eps: X}, "
         "received the text 'dirac'. Write e.g. 'init: {dirac: true, whiten: true}'."),
    ],
)  # fmt: skip
def test_init_needs_the_convolutions_it_sets(document, message, validate_text):
    result = validate_text(document)
    if message is None:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 2
        assert result.output.splitlines()[0] == message


LR_RUN = """\
name: scaled
input: [32, 32, 3]
layers:
  - conv2d: {filters: 4, kernel_size: 3, padding: same}
  - batch_normalization
  - relu
  - global_average_pooling2d
  - dense: {units: 10, activation: softmax}
train:
  optimizer: {sgd: {learning_rate: 0.1}}
  batch_size: 40
  epochs: 1
  validation_split: 40
  seed: 1
"""


@pytest.mark.slow
def test_a_run_trains_with_the_scaled_rates(tmp_path, runner, monkeypatch):
    """Plain SGD steps scale with the rate: a run at 0.1 with every group at half the rate ends
    where a run at 0.05 does, and not where a run at 0.1 does."""
    import keras

    archive = cifar_subset(tmp_path / "cifar.tar", 16)
    monkeypatch.setenv("LAYERKIT_CACHE", str(tmp_path / "cache"))
    halves = "{kernel: 0.5, bias: 0.5, normalization_scale: 0.5, normalization_bias: 0.5}"
    runs = {
        "scaled": LR_RUN.replace("  batch_size", f"  lr_scale: {halves}\n  batch_size"),
        "half": LR_RUN.replace("learning_rate: 0.1", "learning_rate: 0.05"),
        "full": LR_RUN,
    }
    weights = {}
    for name, text in runs.items():
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
        result = runner.invoke(main, ["train", str(tmp_path / f"{name}.yaml"), "--data",
                                      str(archive), "--out", str(tmp_path / name)])  # fmt: skip
        assert result.exit_code == 0, result.output
        model = keras.saving.load_model(tmp_path / name / "model_last.keras")
        weights[name] = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    for scaled, half in zip(weights["scaled"], weights["half"], strict=True):
        np.testing.assert_allclose(scaled, half, rtol=1e-4, atol=1e-6)
    assert not all(
        np.allclose(s, f, atol=1e-4)
        for s, f in zip(weights["scaled"], weights["full"], strict=True)
    )


# -- mistakes found in review ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("lr_scale: {kernel: .nan}",
         "spec.yaml:5:22: error: train.lr_scale.kernel: expected a finite factor above 0, received "
         ".nan. Write e.g. 'lr_scale: {normalization_bias: 64}'."),
        ("lr_scale: {kernel: .inf}",
         "spec.yaml:5:22: error: train.lr_scale.kernel: expected a finite factor above 0, received "
         ".inf. Write e.g. 'lr_scale: {normalization_bias: 64}'."),
        ("init: {whiten: true, whiten_eps: .inf}",
         "spec.yaml:5:36: error: train.init.whiten_eps: expected a number above 0 (such as "
         "0.0005), received .inf"),
    ],
)  # fmt: skip
def test_factors_that_are_not_finite_are_refused(line, message, validate_text):
    """A nan or inf factor trained to a NaN loss, and an inf whiten_eps zeroed the filters."""
    assert_validate_says(line, message, validate_text)


INIT_TYPO = """\
name: t
input: [32, 32, 3]
layers:
  - conv2d: {filters: 8, kernel_siz: 3}
  - conv2d: {filters: 8, kernel_size: 3}
  - global_average_pooling2d
  - dense: {units: 10, activation: softmax}
train:
  init: {dirac: true, whiten: true}
"""


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (INIT_TYPO,
         "spec.yaml:4:26: error: layers[0].conv2d.kernel_siz: unknown argument 'kernel_siz' for "
         "Conv2D. Did you mean 'kernel_size'?"),
        (INIT_TYPO.replace("kernel_siz:", "kernel_size:") + "  tta_translate: 40\n",
         None),
    ],
)  # fmt: skip
def test_init_is_not_judged_on_a_model_with_other_mistakes(document, message, validate_text):
    """Another mistake left the plan empty, and init then said the model had no conv2d."""
    result = validate_text(document)
    assert result.exit_code == 2
    lines = result.errors
    assert len(lines) == 1, result.output
    assert "init" not in lines[0]
    if message is not None:
        assert lines[0] == message


BN_SPEC = """\
name: normalized
input: [32, 32, 3]
layers:
  - conv2d: {filters: 4, kernel_size: 3}
  - batch_normalization
  - flatten
  - dense: {units: 10, activation: softmax}
train:
"""


@pytest.mark.parametrize(
    ("document", "messages"),
    [
        (SPEC + "  lr_scale: {normalization_bias: 64}\n",
         ["spec.yaml:5:14: error: train.lr_scale.normalization_bias: normalization_bias is the "
          "offset (beta) of batch, layer and group normalization layers, and the model has no "
          "such weight to train. Remove 'normalization_bias: 64'."]),
        (BN_SPEC.replace("batch_normalization", "batch_normalization: {center: false}")
         + "  lr_scale: {normalization_scale: 2, normalization_bias: 0.5}\n",
         ["spec.yaml:9:38: error: train.lr_scale.normalization_bias: normalization_bias is the "
          "offset (beta) of batch, layer and group normalization layers, and the model has no "
          "such weight to train. Remove 'normalization_bias: 0.5'."]),
        (BN_SPEC.replace("batch_normalization", "batch_normalization: {trainable: false}")
         + "  lr_scale: {normalization_scale: 2}\n",
         ["spec.yaml:9:14: error: train.lr_scale.normalization_scale: normalization_scale is the "
          "scale (gamma) of batch, layer, group and RMS normalization layers, and the model has "
          "no such weight to train. Remove 'normalization_scale: 2'."]),
        (SPEC.replace("flatten", "flaten") + "  lr_scale: {normalization_bias: 64}\n",
         ["spec.yaml:3:10: error: layers[0].flaten: unknown layer 'flaten'. Did you mean 'flatten'?"]),
        (BN_SPEC + "  lr_scale: {normalization_bias: 64, normalization_scale: 2, kernel: 2}\n",
         []),
        (BN_SPEC.replace("  - batch_normalization\n", "  - time_distributed: {layer: "
                         "{layer_normalization: {}}}\n") + "  lr_scale: {normalization_bias: 64}\n",
         []),
    ],
)  # fmt: skip
def test_lr_scale_of_a_normalization_group_the_model_lacks_is_refused(document, messages,
                                                                      validate_text):  # fmt: skip
    """lr_scale of normalization offsets on a model without any was ignored in training; judged
    only on a model read without other mistakes."""
    result = validate_text(document)
    assert result.exit_code == (2 if messages else 0), result.output
    assert result.errors == messages


def test_whitening_holds_a_bounded_number_of_patch_values_for_any_image_size(images):
    """Four 128x128 images with a 7x7 first conv have 8.7 million patch values (100 MiB as the
    float32 and float64 copies made all at once); they are made a bounded number at a time (at
    most 2^22, 32 MiB: here one image's, 17 MiB), and
    the moments are the same as made all at once (and, for 32x32 images, as by hand)."""
    import tracemalloc

    from layerkit.training.initialization import patch_moments, patch_sums

    rng = np.random.default_rng(0)
    x = rng.random((4, 128, 128, 3), dtype="float32")
    tracemalloc.start()
    try:
        moments = patch_moments(x, 7, 7)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 36 * 2**20, f"{peak / 2**20:.0f} MiB"
    total, count = patch_sums(x, 7, 7, budget=2**30)  # all at once
    assert count == 4 * 122 * 122
    np.testing.assert_allclose(moments, total / count, rtol=1e-12)
    # bands of rows of one image, when a single image has more patch values than the budget
    total, count = patch_sums(x[:1], 7, 7, budget=147 * 122 * 5)
    np.testing.assert_allclose(total / count, patch_moments(x[:1], 7, 7), rtol=1e-12)
    cifar = images[0][:64] / 255
    np.testing.assert_allclose(patch_moments(cifar, 3, 3), moments_by_hand(cifar), rtol=1e-10)


@pytest.mark.slow
def test_whitening_reads_a_channels_first_convolutions_input_in_its_layout(tmp_path, runner,
                                                                           monkeypatch):  # fmt: skip
    """A model with data_format: channels_first fed (N, 3, 32, 32) images: the first conv2d is
    whitened from the same patches as the channels_last model of the same images (its kernel is
    laid out (height, width, in, out) either way), and dirac is the identity."""

    from layerkit.data.load import load_dataset, split
    from layerkit.training.initialization import whitening_sample

    if not nchw_convolutions_run():
        pytest.skip(NO_NCHW)
    dataset = load_dataset(str(cifar_subset(tmp_path / "cifar.tar", 16)), (32, 32, 3))
    np.savez(tmp_path / "cfirst.npz", x_train=dataset.x.transpose(0, 3, 1, 2), y_train=dataset.y)
    monkeypatch.setenv("LAYERKIT_CACHE", str(tmp_path / "cache"))
    first_layout = "padding: same, activation: relu, data_format: channels_first}"
    spec = (INIT_RUN.replace("[32, 32, 3]", "[3, 32, 32]")
            .replace("padding: same, activation: relu}", first_layout)
            .replace("global_average_pooling2d", "flatten").replace("5690", "165050"))  # fmt: skip
    (tmp_path / "spec.yaml").write_text(spec, encoding="utf-8")
    result = runner.invoke(main, ["train", str(tmp_path / "spec.yaml"), "--data",
                                  str(tmp_path / "cfirst.npz"), "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 0, result.output
    first = first_kernel_after_dirac(tmp_path / "run")
    train_index, _ = split(dataset, 20, 2)
    scaled = dataset.x[whitening_sample(train_index, 2)].astype("float64") / 255
    eigenvalues, eigenvectors = np.linalg.eigh(moments_by_hand(scaled))
    top = eigenvectors[:, -1] / np.sqrt(eigenvalues[-1] + 5e-4)
    filter0 = first[..., 0].reshape(-1)
    np.testing.assert_allclose(filter0 * np.sign(filter0 @ top), top, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize(
    ("size", "first", "problem"),
    [
        (2, "{filters: 4, kernel_size: 3, padding: same}",
         "the first conv2d ('conv2d') sees 2x2 inputs, smaller than its 3x3 kernel"),
        (8, "{filters: 4, kernel_size: 3, padding: same, dilation_rate: 2}",
         "the first conv2d ('conv2d') has dilation_rate [2, 2], so its taps are not a patch"),
    ],
    ids=["input-smaller-than-kernel", "dilated"],
)  # fmt: skip
def test_whitening_a_first_conv_without_patches_is_refused_at_its_line(images, tmp_path, runner,
                                                                        size, first, problem):  # fmt: skip
    """A first conv2d whose input is smaller than its kernel has no patch to measure (it was a
    ZeroDivisionError), and a dilated one's taps are not a patch: refused at train.init."""
    x, y = images
    np.savez(tmp_path / "small.npz", x_train=x[::4, :size, :size], y_train=y[::4])
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: w\ninput: [{size}, {size}, 3]\nlayers:\n  - conv2d: {first}\n"
                    "  - flatten\n  - dense: {units: 10, activation: softmax}\n"
                    "train:\n  init: {whiten: true}\n  epochs: 1\n  validation_split: 8\n")  # fmt: skip
    result = runner.invoke(main, ["train", str(spec), "--data", str(tmp_path / "small.npz"),
                                  "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == (
        f"{spec}:8:9: error: train.init.whiten: init.whiten sets the first conv2d from patches of "
        f"the training images, but {problem}. Remove 'whiten: true'.\n"
    )
    assert not (tmp_path / "run").exists()
