"""Safe image decoding and preprocessing to the model's input.

Every failure becomes an ``ImageError`` with a stable code: a bad upload is a final answer,
never a crash or a retry.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, UnidentifiedImageError

# We enforce our own pixel cap before decoding; Pillow's global one would only warn or raise
# with a less specific message.
Image.MAX_IMAGE_PIXELS = None

BACKGROUND = 255  # transparent pixels are flattened onto white, as viewers show them

# ISO base media file brands of HEIF still images (HEVC-coded: iPhones' .heic). AVIF files share the
# container and the generic mif1/msf1 brands, with avif/avis of their own: those are Pillow's.
HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"})
AVIF_BRANDS = frozenset({b"avif", b"avis"})
DRAFT_FORMATS = ("JPEG", "MPO")  # decoded at a reduced scale on request (MPO: a camera's multi-picture JPEG)
# The formats the README promises, by Pillow's names: any other is refused after its header is read,
# before decoding. Pillow reads many more (JPEG 2000, ICO, TGA, PPM, ...), and some decode at full size
# in far more memory than their pixels suggest: a large RGBA JPEG 2000 of half a megabyte needs more
# than the function's 1 GB.
FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIF", "AVIF"})
# A TIFF's pages are counted by walking them, which Pillow does in quadratic time (tens of thousands
# of one-pixel pages outlast the function's timeout): the result's ``frames`` counts at most this many.
MAX_FRAMES_COUNTED = 1000


class ImageError(Exception):
    """A bad upload. ``code`` is stable and machine-readable; the message is for humans."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class DecodedImage:
    gray: Image.Image  # mode "L", EXIF orientation applied, first frame
    width: int  # as uploaded (before orientation), in pixels
    height: int
    format: str
    frames: int

    oriented_width: int  # full size after EXIF orientation: face boxes are in these pixels
    oriented_height: int
    # The same pixels in colour (mode RGB), when asked for: the photo detector (MTCNN) finds
    # far fewer faces in gray (bench.detection); the classifier was trained on gray.
    color: Image.Image | None = None


def decode_image(data: bytes, max_pixels: int, draft_size: int | None = None, color: bool = False) -> DecodedImage:
    """Decode ``data`` to an 8-bit grayscale image, or raise ``ImageError``.

    ``draft_size`` lets JPEG decoding scale down on the fly (much faster for phone photos)
    when the caller only needs that many pixels on the short side.
    """
    if not data:
        raise ImageError("empty", "the object is empty (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "Corrupt EXIF data": reported through the outcome instead
        return _decode(data, max_pixels, draft_size, color)


def is_heif(data: bytes) -> bool:
    """Whether ``data`` starts with an ISO BMFF ``ftyp`` box naming a HEIF brand (major or compatible)
    and no AVIF one."""
    if data[4:8] != b"ftyp":
        return False
    size = int.from_bytes(data[:4], "big")
    brands = {data[8:12], *(data[i:i + 4] for i in range(16, min(size, len(data), 256) - 3, 4))}
    return bool(brands & HEIF_BRANDS) and not brands & AVIF_BRANDS


@cache
def register_heif_decoder() -> None:
    """Teach Pillow HEIF (pi-heif: libheif and libde265, decoding only). Called when the first HEIF
    upload arrives, so a container that never sees one never loads the libraries."""
    import pi_heif
    pi_heif.register_heif_opener()


def _decode(data: bytes, max_pixels: int, draft_size: int | None, color: bool = False) -> DecodedImage:
    if is_heif(data):
        register_heif_decoder()
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError("not_an_image", "the object is not an image format we can read") from None
    except Exception as exc:  # Pillow raises many types on hostile headers
        raise ImageError("corrupt", f"the image header could not be read: {exc}") from None

    if im.format not in FORMATS:
        raise ImageError("not_an_image", f"{im.format} is not an image format we read")
    width, height = im.size
    if width < 1 or height < 1:
        raise ImageError("corrupt", f"the image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageError(
            "too_many_pixels",
            f"{width}x{height} is {width * height:,} pixels; the limit is {max_pixels:,}",
        )
    fmt = im.format or "unknown"
    frames = _frame_count(im)
    try:
        if draft_size and fmt in DRAFT_FORMATS:
            im.draft("RGB" if im.mode != "L" else "L", (draft_size, draft_size))
        im.seek(0)  # first frame of animations
        im.load()
        shrunk = _shrink(im, draft_size)
        flat = to_gray(shrunk)  # before orientation, like ``shrunk``: to_rgb may repeat it
        gray, swapped = _apply_orientation(im, flat)
        rgb = _apply_orientation(im, to_rgb(shrunk, flat))[0] if color else None
    except Exception as exc:
        raise ImageError("corrupt", f"the image data is truncated or corrupt: {exc}") from None
    oriented = (height, width) if swapped else (width, height)
    return DecodedImage(gray=gray, width=width, height=height, format=fmt, frames=frames,
                        oriented_width=oriented[0], oriented_height=oriented[1], color=rgb)


def _frame_count(im: Image.Image) -> int:
    """The upload's frames (pages); a TIFF's counted up to MAX_FRAMES_COUNTED."""
    if im.format != "TIFF":
        return getattr(im, "n_frames", 1)
    count = 1
    while count < MAX_FRAMES_COUNTED:
        try:
            im.seek(count)
        except Exception:  # EOFError past the last page, anything on a broken one
            break
        count += 1
    return count


_REDUCIBLE = {"L", "LA", "RGB", "RGBA", "RGBa", "La", "I", "F", "CMYK", "YCbCr"}
_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N"}  # Image.reduce refuses these: reduced as "I"


def _shrink(im: Image.Image, short_side: int | None) -> Image.Image:
    """Reduce a huge decoded image by an integer factor (box filter) before any conversion, so
    a 50-megapixel upload is converted at a few megapixels: memory and time stay small."""
    if not short_side or min(im.size) < 2 * short_side or im.mode not in _REDUCIBLE | _SIXTEEN_BIT:
        return im
    factor = min(im.size) // short_side
    if im.mode in _SIXTEEN_BIT:  # reduced as the same values in 32 bits, then 16 again for to_gray's scale
        return im.convert("I").reduce(factor).convert("I;16")
    return im.reduce(factor)


def to_gray(im: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit gray: 16-bit and float are rescaled, transparency flattened."""
    if im.mode in _SIXTEEN_BIT or im.mode in ("I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        if im.mode == "F":
            lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
            arr, top = (arr - lo), max(hi - lo, 1e-12)
        arr = np.clip(np.nan_to_num(arr) / top * 255.0, 0, 255)
        return Image.fromarray(arr.round().astype(np.uint8))
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Flatten in gray (two bytes a pixel), not in RGBA: a quarter of the memory.
        la = im.convert("LA")
        return Image.composite(la.getchannel("L"), Image.new("L", la.size, BACKGROUND), la.getchannel("A"))
    if im.mode == "L":
        return im
    if im.mode not in ("RGB", "1"):
        im = im.convert("RGB")  # CMYK, YCbCr, LAB, HSV, P ...
    return im.convert("L")


def to_rgb(im: Image.Image, gray: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB (``gray`` is ``to_gray(im)``, before orientation): colour
    modes are converted, transparency flattened on the same background; gray-only ones
    (16-bit, float, L) are their gray repeated."""
    if im.mode in ("RGB",):
        return im
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "RGBa", "PA"):
        rgba = im.convert("RGBA")
        return Image.composite(rgba.convert("RGB"), Image.new("RGB", rgba.size, (BACKGROUND,) * 3), rgba.getchannel("A"))
    if im.mode in ("CMYK", "YCbCr", "P", "LAB", "HSV"):
        return im.convert("RGB")
    return gray.convert("RGB")


_SWAPS_AXES = {Image.Transpose.TRANSPOSE, Image.Transpose.TRANSVERSE, Image.Transpose.ROTATE_90,
               Image.Transpose.ROTATE_270}


def _apply_orientation(original: Image.Image, gray: Image.Image) -> tuple[Image.Image, bool]:
    """Rotate/flip as the EXIF orientation says (a bogus value is ignored); also says whether
    width and height were swapped."""
    try:
        orientation = original.getexif().get(0x0112, 1)
    except Exception:
        return gray, False
    transpose = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation if isinstance(orientation, int) else 1)
    if transpose is None:
        return gray, False
    return gray.transpose(transpose), transpose in _SWAPS_AXES


def preprocess_face(gray: Image.Image, size: int) -> np.ndarray:
    """Center-crop to a square and resize to ``size`` x ``size``: float32 pixels in 0..255.

    Training crops are square faces; cropping (not squashing) keeps a face's proportions.
    Lanczos shrinks with the least blur: a face crop enlarged and shrunk back comes out much
    closer to the original than with bilinear (test_imaging's round trip), and the model was
    trained on sharp 48x48 crops.
    """
    w, h = gray.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    square = gray.crop((left, top, left + side, top + side))
    if square.size != (size, size):
        square = square.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(square, dtype=np.float32)
