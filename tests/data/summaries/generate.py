"""Regenerate the summaries in this folder: python tests/data/summaries/generate.py (Keras 3)."""

import os
import sys
from pathlib import Path

import keras

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from keras2_printout import printout

out = Path(__file__).resolve().parent


def keras3(model, width=None):
    lines = []
    kwargs = {"line_length": width} if width else {}
    model.summary(print_fn=lambda line, **k: lines.append(line), **kwargs)
    return "\n".join(lines) + "\n"


L = keras.layers
# 1. Xception: separable convolutions and residual adds (Keras 3, wide: whole names)
os.environ["COLUMNS"] = "200"  # rich would cut the wide table at 80 columns
(out / "xception_keras3_wide.txt").write_text(
    keras3(keras.applications.Xception(weights=None), 160)
)
# 2. InceptionV3: four-branch concatenations, 3x3 pooling with stride 1 (tf.keras 2.9+ layout)
(out / "inception_v3_keras2_wrap.txt").write_text(
    printout(keras.applications.InceptionV3(weights=None), "wrap")
)
# 3. EfficientNetB0: rescaling, normalization, squeeze-and-excitation (Keras 3, narrow: cut names)
(out / "efficientnet_b0_keras3.txt").write_text(
    keras3(keras.applications.EfficientNetB0(weights=None))
)
# 4. A text model of three recurrent kinds (tf.keras <= 2.8 layout, Sequential)
text = keras.Sequential(
    [
        keras.Input((40,), dtype="int32"),
        L.Embedding(5000, 32),
        L.SimpleRNN(24, return_sequences=True),
        L.GRU(16, return_sequences=True, reset_after=False),
        L.LSTM(12),
        L.Dense(3, activation="softmax"),
    ],
    name="text_rnns",
)
(out / "text_rnns_keras2_cut.txt").write_text(printout(text, "cut"))
# 5. A small video classifier with 3-D convolutions (Keras 3)
video = keras.Sequential(
    [
        keras.Input((8, 32, 32, 3)),
        L.Conv3D(16, 3, padding="same", activation="relu"),
        L.MaxPooling3D(2),
        L.Conv3D(32, 3, activation="relu"),
        L.BatchNormalization(),
        L.GlobalAveragePooling3D(),
        L.Dense(5),
    ],
    name="video_c3d",
)
(out / "video_c3d_keras3.txt").write_text(keras3(video))
# 6. A small U-Net: down, up with transposed convolutions and upsampling, skip concatenations (Keras 3)
inputs = keras.Input((64, 64, 1))
c1 = L.Conv2D(16, 3, padding="same", activation="relu")(inputs)
p1 = L.MaxPooling2D()(c1)
c2 = L.Conv2D(32, 3, padding="same", activation="relu")(p1)
p2 = L.MaxPooling2D()(c2)
b = L.Conv2D(64, 3, padding="same", activation="relu")(p2)
u2 = L.Conv2DTranspose(32, 2, strides=2, padding="same")(b)
m2 = L.Concatenate()([u2, c2])
c3 = L.Conv2D(32, 3, padding="same", activation="relu")(m2)
u1 = L.UpSampling2D()(c3)
m1 = L.Concatenate()([u1, c1])
c4 = L.Conv2D(16, 3, padding="same", activation="relu")(m1)
unet = keras.Model(inputs, L.Conv2D(2, 1, activation="softmax")(c4), name="small_unet")
(out / "small_unet_keras3.txt").write_text(keras3(unet))
# 7. Two inputs and two outputs: a sequence branch (Conv1D, Bidirectional LSTM, attention pooling) and
#    a tabular branch, merged (tf.keras <= 2.8 layout)
seq = keras.Input((50, 8), name="series")
tab = keras.Input((12,), name="features")
x = L.Conv1D(32, 5, strides=2, activation="relu")(seq)
x = L.Bidirectional(L.LSTM(16, return_sequences=True))(x)
x = L.LayerNormalization()(x)
x = L.GlobalMaxPooling1D()(x)
t = L.Dense(16, activation="relu")(tab)
t = L.Dropout(0.2)(t)
h = L.Concatenate()([x, t])
h = L.Dense(32, activation="relu")(h)
two = keras.Model(
    [seq, tab],
    [L.Dense(1, name="risk")(h), L.Dense(4, activation="softmax", name="kind")(h)],
    name="two_branch",
)
(out / "two_branch_keras2_cut.txt").write_text(printout(two, "cut"))
print("written", sorted(p.name for p in out.iterdir()))
