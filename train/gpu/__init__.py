"""Helpers for training on a borrowed GPU machine (Keras 3 on JAX, no TensorFlow there)."""
