"""Offline training for the emotion service: data report, model zoo, training, quantization."""
