"""Write examples/cifar_summary_one_change.txt, the input of `layerkit diff`'s example: the
reference CIFAR-10 CNN as its published tf.keras printout shows it (examples/cifar_summary.txt,
layer names included), with the first convolution of the second block given 65 filters instead
of 64. Keras builds the changed model, so every row it touches (that convolution, its batch
normalization, the next convolution) and the totals are as Keras counts them.

Run: python tests/data/summaries/cifar_one_change.py (Keras 3). With 64 filters it prints the
published printout byte for byte, which the script checks before writing.
"""

import sys
from pathlib import Path

import keras

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests"))
from keras2_printout import printout  # noqa: E402

L = keras.layers


def reference(changed_filters: int) -> keras.Model:
    """The published network, its layers named as in the printout; the first convolution of the
    second block with ``changed_filters`` filters."""
    numbers = {"conv2d": 19, "batch_normalization": 19, "max_pooling2d": 10, "dropout": 11}

    def name(kind: str) -> str:
        numbers[kind] += 1
        return f"{kind}_{numbers[kind] - 1}"

    layers = [keras.Input((32, 32, 3))]
    for block, (filters, rate) in enumerate(((32, 0.2), (64, 0.3), (128, 0.4))):
        for repeat in range(2):
            width = changed_filters if (block, repeat) == (1, 0) else filters
            layers += [L.Conv2D(width, 3, padding="same", activation="relu", name=name("conv2d")),
                       L.BatchNormalization(name=name("batch_normalization"))]  # fmt: skip
        layers += [
            L.MaxPooling2D(2, name=name("max_pooling2d")),
            L.Dropout(rate, name=name("dropout")),
        ]
    layers += [
        L.Flatten(name="flatten_4"),
        L.Dense(1024, activation="relu", name="dense_6"),
        L.BatchNormalization(name=name("batch_normalization")),
        L.Dropout(0.5, name=name("dropout")),
        L.Dense(100, activation="relu", name="dense_7"),
        L.BatchNormalization(name=name("batch_normalization")),
        L.Dense(10, activation="softmax", name="dense_8"),
    ]
    return keras.Sequential(layers)


def published(model: keras.Model) -> str:
    """tf.keras 2's Sequential printout, from the header row to the totals, as published."""
    lines = printout(model, "cut").splitlines()
    return "\n".join(lines[2:-1]) + "\n"  # without the "Model:" line and the outer rules


if __name__ == "__main__":
    examples = ROOT / "examples"
    same = published(reference(64))
    if same != (examples / "cifar_summary.txt").read_text(encoding="utf-8"):
        sys.exit("the unchanged network does not print as examples/cifar_summary.txt: not written")
    (examples / "cifar_summary_one_change.txt").write_text(
        published(reference(65)), encoding="utf-8"
    )
