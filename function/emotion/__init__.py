"""The function's building blocks: settings, image decoding, classifier, result writer."""
