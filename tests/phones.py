"""Photos as phones and cameras save them, made by code: one clearly happy face (scikit-image's
astronaut) in a large colour frame, encoded as HEIC, AVIF, MPO or a big JPEG."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from composites import astronaut

FORMATS = {"HEIC": ".heic", "AVIF": ".avif", "MPO": ".mpo", "JPEG": ".jpg"}


def phone_photo(megapixels: float, grain: int = 0, seed: int = 0) -> Image.Image:
    """A 4:3 colour photo of about ``megapixels`` with the astronaut filling its height, over
    a mottled background; ``grain`` adds sensor-like noise of that amplitude to every pixel (what
    makes a phone's JPEG big)."""
    height = int((megapixels * 1e6 * 3 / 4) ** 0.5)
    width = height * 4 // 3
    rng = np.random.default_rng(seed)
    base = rng.integers(90, 170, (height // 64, width // 64, 3), dtype=np.uint8)
    canvas = Image.fromarray(base).resize((width, height), Image.Resampling.BILINEAR)
    person = astronaut().convert("RGB")
    side = height
    canvas.paste(person.resize((side, side), Image.Resampling.LANCZOS), ((width - side) // 2, (height - side) // 2))
    if grain:
        noise = rng.integers(-grain, grain + 1, (height, width, 1), dtype=np.int16)
        canvas = Image.fromarray(np.clip(np.asarray(canvas, dtype=np.int16) + noise, 0, 255).astype(np.uint8))
    return canvas


def encode_phone(im: Image.Image, fmt: str, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    if fmt == "HEIC":
        import pillow_heif  # the encoder, for tests only; the function decodes with pi-heif
        pillow_heif.from_pillow(im).save(buf, quality=quality, enc_params={"preset": "ultrafast"})
    elif fmt == "MPO":  # a camera's stereo pair: the first picture is the photo
        im.save(buf, format="MPO", save_all=True, append_images=[im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)],
                quality=quality)
    else:
        im.save(buf, format=fmt, quality=quality)
    return buf.getvalue()
