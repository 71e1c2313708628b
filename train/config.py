"""Constants shared by every training step, named once."""
from pathlib import Path

# FER2013's seven emotions, in the canonical order used for every seven-class model.
EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
# The study's four classes: the default product.
DEFAULT_CLASSES = ("happy", "neutral", "sad", "surprise")

# The dataset lives beside the checkout and is never copied into it.
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013"
TRAIN_SPLIT = "train"
VALIDATION_SPLIT = "validation"

# FER2013's files are histogram-equalized (its README): faces from elsewhere are equalized alike.
PREPROCESSING = ("equalize_hist",)

IMAGE_SIZE = 48  # FER2013 crops are 48x48 grayscale
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

SEED = 1337
BATCH_SIZE = 32
