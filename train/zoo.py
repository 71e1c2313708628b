"""The study's seven models, one function each, plus the registry that names them.

Every model takes gray 48x48x1 pixel values in 0..255 and outputs class probabilities.
Scaling (and, for training, augmentation) lives inside the model, so serving feeds raw
pixels and cannot drift from training. RGB models repeat the gray channel three times.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
from keras import layers, regularizers

from .augment import FaceAugmentation
from .config import IMAGE_SIZE

INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)


# "keras": Keras's own layers, as every committed run used; "matrix": the same transformations
# without gathers (train/augment.py), for JAX on a GPU, where Keras's layers are slow.
AUGMENTATIONS = ("keras", "matrix")


def augmentation(kind: str = "keras") -> keras.Layer:
    """The study's augmentation: rotation, horizontal flip, zoom, shifts, brightness. Training only."""
    if kind == "matrix":
        return FaceAugmentation(rotation=0.05, zoom=0.1, shift=0.08, brightness=0.2, name="augmentation")
    if kind != "keras":
        raise ValueError(f"unknown augmentation {kind!r}: use one of {', '.join(AUGMENTATIONS)}")
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.05, fill_mode="nearest"),
            layers.RandomZoom(0.1, fill_mode="nearest"),
            layers.RandomTranslation(0.08, 0.08, fill_mode="nearest"),
            layers.RandomBrightness(0.2, value_range=(0, 255)),
        ],
        name="augmentation",
    )


def _inputs(augment: bool | str):
    """``augment``: False (inference), True (Keras's layers) or an ``AUGMENTATIONS`` name."""
    inputs = keras.Input(INPUT_SHAPE, name="pixels")
    x = augmentation("keras" if augment is True else augment)(inputs) if augment else inputs
    return inputs, x


def _to_rgb(x):
    return layers.Concatenate(name="gray_to_rgb")([x, x, x])


def _head(x, n_classes: int):
    return layers.Dense(n_classes, activation="softmax", name="probabilities")(x)


def _conv_bn(x, filters: int, l2: float = 0.0):
    reg = regularizers.L2(l2) if l2 else None
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=reg)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def cnn_model_1(n_classes: int, augment: bool | str = True) -> keras.Model:
    """Baseline gray CNN: three conv blocks, one dense layer."""
    inputs, x = _inputs(augment)
    x = layers.Rescaling(1 / 255)(x)
    for filters in (32, 64, 128):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, _head(x, n_classes), name="cnn_model_1")


def cnn_model_2(n_classes: int, augment: bool | str = True) -> keras.Model:
    """Baseline RGB CNN: more blocks than the first, a wider dense layer."""
    inputs, x = _inputs(augment)
    x = layers.Rescaling(1 / 255)(_to_rgb(x))
    for filters in (32, 64, 128, 256):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, _head(x, n_classes), name="cnn_model_2")


def _transfer(name: str, base_fn: Callable, preprocess, n_classes: int, augment: bool | str,
              weights: str | None, dense: int = 0) -> keras.Model:
    inputs, x = _inputs(augment)
    x = preprocess(_to_rgb(x))
    base = _load_base(base_fn, weights)
    x = base(x)
    x = layers.GlobalAveragePooling2D()(x)
    if dense:
        x = layers.Dense(dense, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    model = keras.Model(inputs, _head(x, n_classes), name=name)
    model.pretrained = base.pretrained  # reported in the comparison table
    return model


def _load_base(base_fn: Callable, weights: str | None):
    """ImageNet weights when they can be downloaded; random initialization otherwise."""
    shape = (IMAGE_SIZE, IMAGE_SIZE, 3)
    if weights:
        try:
            base = base_fn(include_top=False, weights=weights, input_shape=shape)
            base.pretrained = True
            return base
        except Exception as exc:  # no network here: say so and train from scratch
            print(f"  {base_fn.__name__}: ImageNet weights unavailable ({type(exc).__name__}); "
                  "training from random initialization")
    base = base_fn(include_top=False, weights=None, input_shape=shape)
    base.pretrained = False
    return base


# Caffe-style preprocessing that VGG16's ImageNet weights expect (BGR mean subtraction;
# the channels are equal here, so only the means matter).
_VGG_MEANS = (103.939, 116.779, 123.68)


def vgg16(n_classes: int, augment: bool | str = True, weights: str | None = "imagenet") -> keras.Model:
    preprocess = layers.Normalization(mean=_VGG_MEANS, variance=(1.0, 1.0, 1.0))
    return _transfer("vgg16", keras.applications.VGG16, preprocess, n_classes, augment, weights)


def resnet50v2(n_classes: int, augment: bool | str = True, weights: str | None = "imagenet") -> keras.Model:
    preprocess = layers.Rescaling(1 / 127.5, offset=-1)
    return _transfer("resnet50v2", keras.applications.ResNet50V2, preprocess, n_classes, augment,
                     weights, dense=1024)


def efficientnetv2b2(n_classes: int, augment: bool | str = True, weights: str | None = "imagenet") -> keras.Model:
    # EfficientNetV2 rescales 0..255 inputs itself (include_preprocessing=True).
    preprocess = layers.Identity()
    return _transfer("efficientnetv2b2", keras.applications.EfficientNetV2B2, preprocess, n_classes,
                     augment, weights, dense=1024)


# complex_cnn_1's convolution blocks: (filters, convolutions, dropout).
COMPLEX_CNN_1_BLOCKS = ((48, 1, 0.1), (64, 2, 0.15), (128, 2, 0.2), (256, 2, 0.25), (192, 1, 0.3))


def complex_cnn_1(n_classes: int, augment: bool | str = True, width: float = 1.0,
                  name: str = "complex_cnn_1") -> keras.Model:
    """The study's chosen model: five conv blocks with batch norm, dropouts of several rates,
    flatten, two dense layers before the output. ``width`` scales every convolution's filters
    (the dense layers keep theirs): 0.5 does a quarter of the multiply-adds."""
    inputs, x = _inputs(augment)
    x = layers.Rescaling(1 / 255)(x)
    for filters, convs, drop in COMPLEX_CNN_1_BLOCKS:
        for _ in range(convs):
            x = _conv_bn(x, round(filters * width))
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(drop)(x)
    x = layers.Flatten()(x)  # the last block's 1x1 map: 192 values (96 at half width)
    for units in (512, 256):
        x = layers.Dense(units, use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.Dropout(0.4)(x)
    return keras.Model(inputs, _head(x, n_classes), name=name)


def complex_cnn_1_half(n_classes: int, augment: bool | str = True) -> keras.Model:
    """complex_cnn_1 at half width: a quarter of its multiply-adds (``train prune`` makes one
    from a trained complex_cnn_1). Not one of the study's models."""
    return complex_cnn_1(n_classes, augment, width=0.5, name="complex_cnn_1_half")


def complex_cnn_2(n_classes: int, augment: bool | str = True) -> keras.Model:
    """Six conv blocks with L2 regularization and Gaussian noise."""
    inputs, x = _inputs(augment)
    x = layers.Rescaling(1 / 255)(x)
    x = layers.GaussianNoise(0.05)(x)
    for filters, pool in ((32, True), (64, True), (128, True), (192, False), (256, True), (320, True)):
        x = _conv_bn(x, filters, l2=1e-4)
        x = _conv_bn(x, filters, l2=1e-4)
        if pool:
            x = layers.MaxPooling2D()(x)
        x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu", kernel_regularizer=regularizers.L2(1e-4))(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, _head(x, n_classes), name="complex_cnn_2")


@dataclass(frozen=True)
class ZooEntry:
    build: Callable[..., keras.Model]
    input: str  # "gray" or "RGB", as in the study
    # The study's figures; None for a network of ours that is not one of its seven.
    study_params: int | None
    study_val_loss: float | None
    study_val_acc: float | None
    # The comparison's recipe (``python -m train compare``): epochs of one warm-up epoch then a
    # cosine to zero, at this peak Adam rate. Budgets are epochs, not minutes, so a row means the
    # same on any machine; each was sized on the 2-core CPU (docs/training.md gives the times).
    epochs: int
    learning_rate: float
    transfer: bool = False

    @property
    def in_study(self) -> bool:
        """One of the study's seven (``compare``'s default list)."""
        return self.study_params is not None


# Networks without batch normalization (cnn_model_2, vgg16) start at a lower rate: at 1e-3 they
# stayed at constant prediction (reports/comparison before 2026-12-02). cnn_model_1 still fitted
# its training images worse than validation after 20 epochs (0.698; docs/training.md): 40; and
# complex_cnn_2 after 10 (0.686): 20.
ZOO: dict[str, ZooEntry] = {
    "cnn_model_1": ZooEntry(cnn_model_1, "gray", 684_036, 0.62, 0.76, epochs=40, learning_rate=1e-3),
    "cnn_model_2": ZooEntry(cnn_model_2, "RGB", 2_765_316, 0.67, 0.75, epochs=15, learning_rate=3e-4),
    "vgg16": ZooEntry(vgg16, "RGB", 14_714_688, 1.05, 0.54, epochs=3, learning_rate=1e-4, transfer=True),
    "resnet50v2": ZooEntry(resnet50v2, "RGB", 25_703_876, 0.99, 0.58, epochs=2, learning_rate=1e-3, transfer=True),
    "efficientnetv2b2": ZooEntry(efficientnetv2b2, "RGB", 10_253_090, 1.36, 0.37, epochs=5, learning_rate=1e-3,
                                 transfer=True),
    "complex_cnn_1": ZooEntry(complex_cnn_1, "gray", 1_839_876, 0.60, 0.76, epochs=20, learning_rate=1e-3),
    "complex_cnn_2": ZooEntry(complex_cnn_2, "gray", 3_412_100, 0.67, 0.74, epochs=20, learning_rate=1e-3),
    # Not the study's: the shipped network pruned to half width (``train prune``), then fine-tuned.
    "complex_cnn_1_half": ZooEntry(complex_cnn_1_half, "gray", None, None, None, epochs=20, learning_rate=1e-3),
}
STUDY = [name for name, entry in ZOO.items() if entry.in_study]


def build(name: str, n_classes: int, augment: bool | str = True, weights: str | None = "imagenet") -> keras.Model:
    entry = ZOO[name]
    if entry.transfer:
        return entry.build(n_classes, augment=augment, weights=weights)
    return entry.build(n_classes, augment=augment)
