"""Decoding any upload safely, and preprocessing it to the model's input."""
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))
from emotion.imaging import ImageError, decode_image, preprocess_face, to_gray  # noqa: E402

from images import animated_gif, encode, face, gradient, jpeg_with_orientation, png_with_declared_size  # noqa: E402

MAX_PIXELS = 50_000_000


def decode(data: bytes):
    return decode_image(data, MAX_PIXELS)


@pytest.mark.parametrize("mode,fmt", [
    ("L", "JPEG"), ("RGB", "JPEG"), ("CMYK", "JPEG"), ("RGB", "PNG"), ("RGBA", "PNG"), ("LA", "PNG"),
    ("P", "PNG"), ("1", "PNG"), ("I;16", "PNG"), ("RGB", "WEBP"), ("P", "GIF"), ("RGB", "BMP"),
    ("F", "TIFF"), ("RGB", "TIFF"),
])
def test_every_mode_decodes_to_8bit_gray(mode, fmt):
    im = face("happy").resize((60, 40))
    if mode == "I;16":
        src = Image.fromarray(np.asarray(im, dtype=np.uint16) * 257)
    elif mode == "F":
        src = Image.fromarray(np.asarray(im, dtype=np.float32) / 255.0)
    else:
        src = im.convert(mode)
    decoded = decode(encode(src, fmt))
    assert decoded.gray.mode == "L"
    assert decoded.gray.size == (60, 40)
    assert (decoded.width, decoded.height) == (60, 40)
    assert decoded.format == fmt
    # The content survives the conversion (not a blank or clipped image).
    ref = np.asarray(im, dtype=float)
    got = np.asarray(decoded.gray, dtype=float)
    if mode != "1":  # 1-bit is dithered by design
        assert np.corrcoef(ref.ravel(), got.ravel())[0, 1] > 0.9


def test_16bit_is_rescaled_not_clipped():
    arr = np.full((10, 10), 32768, dtype=np.uint16)  # half of the 16-bit range
    gray = to_gray(Image.fromarray(arr))
    assert abs(int(np.asarray(gray)[0, 0]) - 128) <= 1


def test_transparency_is_flattened_onto_white():
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))  # fully transparent black
    gray = decode(encode(rgba, "PNG")).gray
    assert np.asarray(gray).min() == 255


def test_palette_with_transparency():
    p = Image.new("P", (8, 8), 0)
    p.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    p.info["transparency"] = 0
    assert np.asarray(decode(encode(p, "PNG", transparency=0)).gray).min() == 255


def test_exif_orientation_is_applied():
    im = gradient((40, 20))
    decoded = decode(jpeg_with_orientation(im, 6))  # 6: rotate 90 degrees clockwise to display
    assert decoded.gray.size == (20, 40)
    assert (decoded.width, decoded.height) == (40, 20)  # as uploaded


@pytest.mark.parametrize("orientation", [0, 9, 255])
def test_bogus_exif_orientation_is_ignored(orientation):
    decoded = decode(jpeg_with_orientation(gradient((40, 20)), orientation))
    assert decoded.gray.size == (40, 20)


def test_first_frame_of_animation():
    frames = [Image.new("L", (16, 16), 0), Image.new("L", (16, 16), 255)]
    decoded = decode(animated_gif(frames))
    assert decoded.frames == 2
    assert np.asarray(decoded.gray).max() < 50


def test_one_pixel_image_is_classifiable():
    decoded = decode(encode(Image.new("L", (1, 1), 90), "PNG"))
    x = preprocess_face(decoded.gray, 48)
    assert x.shape == (48, 48) and np.all(x == 90)


@pytest.mark.parametrize("data,code", [
    (b"", "empty"),
    (b"hello, this is text named .jpg", "not_an_image"),
    (png_with_declared_size(20000, 20000), "too_many_pixels"),
])
def test_bad_uploads_get_stable_codes(data, code):
    with pytest.raises(ImageError) as err:
        decode(data)
    assert err.value.code == code
    assert err.value.message


def test_truncated_jpeg_is_corrupt():
    data = encode(face("sad").resize((200, 200)), "JPEG")
    with pytest.raises(ImageError) as err:
        decode(data[: len(data) // 2])
    assert err.value.code == "corrupt"


def test_pixel_cap_is_checked_before_decoding():
    data = encode(Image.new("L", (300, 300)), "PNG")
    with pytest.raises(ImageError) as err:
        decode_image(data, max_pixels=300 * 300 - 1)
    assert err.value.code == "too_many_pixels"


def test_draft_decodes_large_jpegs_smaller_but_reports_true_size():
    data = encode(gradient((1600, 1200), "RGB"), "JPEG")
    decoded = decode_image(data, MAX_PIXELS, draft_size=48)
    assert (decoded.width, decoded.height) == (1600, 1200)
    assert decoded.gray.size[0] < 1600 and min(decoded.gray.size) >= 48


def test_preprocess_center_crops_to_a_square():
    im = Image.new("L", (90, 30), 0)
    im.paste(255, (30, 0, 60, 30))  # a white square in the middle third
    x = preprocess_face(im, 48)
    assert x.shape == (48, 48) and x.dtype == np.float32
    assert x.mean() > 250  # only the middle square is kept


def test_preprocess_keeps_48x48_crops_untouched():
    im = face("surprise")
    assert np.array_equal(preprocess_face(im, 48), np.asarray(im, dtype=np.float32))


@pytest.mark.parametrize("side", [97, 150, 400])
def test_preprocess_shrinks_an_enlarged_crop_back_close_to_the_original(side):
    # A face found in a photo is shrunk to the model's input: the shrink must not blur away
    # the detail the model saw in training (bilinear leaves 8-9 gray levels RMS here).
    original = face("surprise")
    enlarged = original.resize((side, side), Image.Resampling.BICUBIC)
    back = preprocess_face(enlarged, 48)
    assert np.sqrt(np.mean((back - np.asarray(original, dtype=np.float32)) ** 2)) < 6.0


def test_huge_images_are_reduced_before_conversion_and_keep_orientation():
    im = gradient((3000, 1000), "RGBA")
    decoded = decode_image(encode(im, "PNG"), MAX_PIXELS, draft_size=200)
    assert (decoded.width, decoded.height) == (3000, 1000)
    assert 200 <= min(decoded.gray.size) < 400  # reduced by an integer factor
    rotated = decode_image(jpeg_with_orientation(gradient((3000, 1000)), 6), MAX_PIXELS, draft_size=200)
    assert rotated.gray.size[1] > rotated.gray.size[0]  # displayed upright: taller than wide
    assert (rotated.oriented_width, rotated.oriented_height) == (1000, 3000)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_the_colour_picture_is_oriented_once_like_the_gray_one(mode):
    # A gray upload's colour picture is its gray repeated: it must not be rotated a second time.
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = encode(gradient((40, 20), mode), "JPEG", exif=exif.tobytes())
    decoded = decode_image(data, MAX_PIXELS, color=True)
    assert decoded.color.size == decoded.gray.size == (20, 40)
    diff = np.abs(np.asarray(decoded.color.convert("L"), dtype=int) - np.asarray(decoded.gray, dtype=int))
    assert diff.max() <= 1


def test_a_large_16bit_image_is_reduced_not_refused():
    # Image.reduce refuses 16-bit modes; at the detector's draft size a 16-bit scan was called corrupt.
    im = Image.fromarray(np.linspace(0, 65535, 2100 * 2100).reshape(2100, 2100).astype(np.uint16))
    decoded = decode_image(encode(im, "PNG"), MAX_PIXELS, draft_size=1024)
    assert decoded.gray.size == (1050, 1050) and np.asarray(decoded.gray).max() == 255
    dark = Image.fromarray(np.full((2100, 2100), 200, np.uint16))  # scaled from 16 bits, reduced or not
    assert np.asarray(decode_image(encode(dark, "PNG"), MAX_PIXELS, draft_size=1024).gray).max() == 1


def test_a_tiffs_pages_are_counted_up_to_a_cap():
    pages = [Image.new("L", (1, 1), i % 256) for i in range(1200)]
    decoded = decode(encode(pages[0], "TIFF", save_all=True, append_images=pages[1:]))
    assert decoded.frames == 1000 and np.asarray(decoded.gray)[0, 0] == 0  # the first page
    assert decode(encode(pages[0], "TIFF", save_all=True, append_images=pages[1:3])).frames == 3


def test_formats_outside_the_promised_ones_are_not_images():
    # JPEG 2000 decodes at full size in far more memory than its pixels suggest (1.2 GB for 50 MP RGBA).
    for fmt in ("JPEG2000", "ICO", "TGA", "PPM"):
        with pytest.raises(ImageError) as err:
            decode(encode(Image.new("RGB", (32, 32)), fmt))
        assert err.value.code == "not_an_image", fmt
