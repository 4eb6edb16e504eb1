"""Scanned images (TIFF, PNG, JPEG) into one PDF, without losing a single pixel.

Pillow's own PDF writer is not used: it re-encodes greyscale and colour images as JPEG (lossy),
and the archive's promise is that a released scan is shown as released. Instead each page's image
goes into the PDF as it is: JPEG files byte for byte (DCTDecode), everything else as the decoded
pixels under Flate, in the image's own colour model and bit depth (a 1-bit fax page stays
1-bit, a palette image stays indexed).
"""

from __future__ import annotations

import logging
import math
import os
import struct
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from PIL import ExifTags, Image

from ingest.errors import BrokenFileError, TooLargeError, UnsupportedFileError
from ingest.sniff import Kind, sniff

logger = logging.getLogger(__name__)

DEFAULT_DPI = 300.0

# Pillow's format plugins, by sniffed kind: Pillow is told which one to use rather than trying
# every plugin it has on bytes from the outside world.
_PIL_FORMATS = {Kind.TIFF: "TIFF", Kind.PNG: "PNG", Kind.JPEG: "JPEG"}

# What Pillow raises on damaged or malformed images: its decoders and TIFF tag parsing surface
# plain Python errors as well as OSError (which includes UnidentifiedImageError).
_UNREADABLE = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    KeyError,
    IndexError,
    TypeError,
    ZeroDivisionError,
)

# EXIF orientation -> /Rotate (clockwise degrees). Mirrored orientations have no /Rotate
# equivalent and are left alone.
_EXIF_ROTATION = {3: 180, 6: 90, 8: 270}


@dataclass(frozen=True)
class _Raster:
    """One page's image, ready to be written as a PDF image XObject."""

    data: bytes
    filter: str
    color_space: pikepdf.Object
    bits: int
    decode: list[int] | None = None
    alpha: bytes | None = None  # Flate-compressed 8-bit soft mask


@dataclass(frozen=True)
class _Page:
    raster: _Raster
    size: tuple[int, int]
    dpi: tuple[float, float]
    rotate: int = 0


def images_to_pdf(image_path: Path, out_pdf: Path, *, max_pixels: int = 150_000_000) -> int:
    """Convert a TIFF (all frames), PNG or JPEG scan into one PDF without loss; return the
    page count.

    JPEG files are embedded untouched (DCTDecode, no re-encoding; EXIF rotation becomes the
    page's /Rotate). PNG and TIFF pixels are stored under Flate in their own mode: 1-bit stays
    1-bit, greyscale, RGB, CMYK, 16-bit greyscale and palette images keep their values, and an
    alpha channel that is not fully opaque becomes a soft mask. Each page is sized from the
    image's DPI (``DEFAULT_DPI`` when the metadata has none). ``out_pdf`` is replaced
    atomically.

    Raises ``TooLargeError`` for a frame over ``max_pixels`` pixels or one Pillow rejects as a
    decompression bomb (Pillow's own limit, ``2 * Image.MAX_IMAGE_PIXELS``, still applies),
    ``BrokenFileError`` for an image that cannot be decoded, and ``UnsupportedFileError`` for
    anything that is not TIFF, PNG or JPEG by its bytes or whose colour mode has no lossless
    PDF equivalent.
    """
    kind = sniff(image_path)
    if kind not in _PIL_FORMATS:
        raise UnsupportedFileError(
            f"this file is not a TIFF, PNG or JPEG image (it looks like {kind.value}): only "
            "scanned images can be converted to PDF"
        )
    noted: list[warnings.WarningMessage] = []
    try:
        # Pillow warns about oddities of hostile or sloppy files (corrupt EXIF, and pixel counts
        # between its two limits, where our own cap decides): they belong in the log, not in
        # the way of whoever runs with warnings as errors. catch_warnings swaps process-wide
        # state, so with threads another thread's warning may be logged here: noise, no harm.
        with warnings.catch_warnings(record=True) as noted:
            warnings.simplefilter("always")
            pages = _read_pages(image_path, kind, max_pixels)
    except Image.DecompressionBombError as exc:
        raise TooLargeError(
            "this image has more pixels than readingroom will decode, which is how "
            "decompression bombs look: if it is a genuine scan, rescan it at a lower resolution"
        ) from exc
    except _UNREADABLE as exc:
        raise BrokenFileError(
            f"this image cannot be read ({str(exc)[:200] or type(exc).__name__}): it may be "
            "damaged or truncated; ask for a new copy"
        ) from exc
    finally:
        for warning in noted:
            logger.info("%s: %s", image_path.name, warning.message)

    pdf = pikepdf.new()
    for page in pages:
        _add_page(pdf, page)
    _save_atomically(pdf, out_pdf)
    return len(pages)


def _read_pages(image_path: Path, kind: Kind, max_pixels: int) -> list[_Page]:
    """Decode every frame (one JPEG is checked, not decoded in full) into page images."""
    with Image.open(image_path, formats=[_PIL_FORMATS[kind]]) as image:
        if kind is Kind.JPEG:
            return [_jpeg_page(image, image_path, max_pixels)]
        pages = []
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            _check_pixels(image, index, max_pixels)
            pages.append(_Page(_raster(image), image.size, _dpi(image)))
        return pages


def _check_pixels(image: Image.Image, index: int, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise TooLargeError(
            f"page {index + 1} of this image is {width:,} x {height:,} pixels, over the limit of "
            f"{max_pixels:,}: if it is a genuine scan, rescan it at a lower resolution"
        )


def _jpeg_page(image: Image.Image, image_path: Path, max_pixels: int) -> _Page:
    _check_pixels(image, 0, max_pixels)
    width, height = image.size
    # Decode once at 1/8 scale (libjpeg's DCT scaling: cheap) so a truncated or corrupt JPEG is
    # refused now rather than failing later when its page is rendered.
    image.draft(image.mode, (math.ceil(width / 8), math.ceil(height / 8)))
    image.load()
    spaces = {"L": "/DeviceGray", "RGB": "/DeviceRGB", "CMYK": "/DeviceCMYK"}
    if image.mode not in spaces:
        raise UnsupportedFileError(
            f"this JPEG's colour mode ({image.mode}) cannot be embedded in a PDF as it is"
        )
    # Adobe's CMYK JPEGs store inverted values; PDF readers expect the Decode array to undo it.
    decode = [1, 0] * 4 if image.mode == "CMYK" and "adobe" in image.info else None
    raster = _Raster(
        image_path.read_bytes(), "/DCTDecode", pikepdf.Name(spaces[image.mode]), 8, decode
    )
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except _UNREADABLE:
        orientation = 1  # damaged EXIF only costs the rotation hint, never the page
    rotate = _EXIF_ROTATION.get(orientation, 0) if isinstance(orientation, int) else 0
    return _Page(raster, (width, height), _dpi(image), rotate)


def _raster(image: Image.Image) -> _Raster:
    """The current frame's pixels in a PDF image representation that loses nothing."""
    mode = image.mode
    if mode in ("P", "PA") and ("transparency" in image.info or mode == "PA"):
        # Per-entry palette transparency has no Indexed equivalent; RGBA keeps every value.
        image, mode = image.convert("RGBA"), "RGBA"
    if mode == "YCbCr":
        # PDF has no YCbCr colour space for raw samples; RGB is how every viewer shows it.
        image, mode = image.convert("RGB"), "RGB"
    if mode == "RGBX":
        # A TIFF's fourth, unspecified sample is padding: dropping it loses no pixel value.
        image, mode = image.convert("RGB"), "RGB"

    gray, rgb = pikepdf.Name("/DeviceGray"), pikepdf.Name("/DeviceRGB")
    if mode == "1":
        # Pillow packs mode "1" MSB first with 1 = white, exactly DeviceGray at 1 bit.
        return _flate(image.tobytes(), gray, 1)
    if mode == "L":
        return _flate(image.tobytes(), gray, 8)
    if mode == "RGB":
        return _flate(image.tobytes(), rgb, 8)
    if mode == "CMYK":
        return _flate(image.tobytes(), pikepdf.Name("/DeviceCMYK"), 8)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N") or (mode == "I" and _fits_16_bits(image)):
        return _flate(image.tobytes("raw", "I;16B"), gray, 16)
    if mode == "P":
        palette = bytes(image.getpalette("RGB") or [])
        palette = palette.ljust(768, b"\x00")[:768]
        indexed = pikepdf.Array([pikepdf.Name("/Indexed"), rgb, 255, palette])
        return _flate(image.tobytes(), indexed, 8)
    if mode in ("LA", "RGBA"):
        color, alpha = image.convert(mode[:-1]), image.getchannel("A")
        base = _flate(color.tobytes(), gray if mode == "LA" else rgb, 8)
        if alpha.getextrema() == (255, 255):
            return base  # fully opaque: a mask would only cost bytes
        return _Raster(
            base.data, base.filter, base.color_space, 8, alpha=zlib.compress(alpha.tobytes(), 6)
        )
    raise UnsupportedFileError(
        f"this image's colour mode ({mode}) cannot be put in a PDF without loss: convert it "
        "to PDF with another tool and upload that"
    )


def _flate(data: bytes, color_space: pikepdf.Object, bits: int) -> _Raster:
    return _Raster(zlib.compress(data, 6), "/FlateDecode", color_space, bits)


def _fits_16_bits(image: Image.Image) -> bool:
    low, high = image.getextrema()
    return isinstance(low, int) and isinstance(high, int) and low >= 0 and high <= 0xFFFF


def _dpi(image: Image.Image) -> tuple[float, float]:
    """The image's resolution, or ``DEFAULT_DPI`` where the metadata is missing or absurd.

    Pillow reports a TIFF without resolution tags as 1 dpi, and PNG stores dots per metre, so
    300 dpi comes back as 299.9994: values are snapped to whole numbers when that close.
    """
    raw = image.info.get("dpi")
    values: list[float] = []
    for value in raw if isinstance(raw, tuple) and len(raw) == 2 else (0, 0):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = 0.0
        if not math.isfinite(number) or not 10 <= number <= 100_000:
            number = DEFAULT_DPI
        elif abs(number - round(number)) < 0.01:
            number = float(round(number))
        values.append(number)
    return values[0], values[1]


def _add_page(pdf: pikepdf.Pdf, page: _Page) -> None:
    raster, dpi = page.raster, page.dpi
    width, height = page.size
    image = pikepdf.Stream(pdf, raster.data)
    image.Type = pikepdf.Name("/XObject")
    image.Subtype = pikepdf.Name("/Image")
    image.Width = width
    image.Height = height
    image.ColorSpace = raster.color_space
    image.BitsPerComponent = raster.bits
    image.Filter = pikepdf.Name(raster.filter)
    if raster.decode is not None:
        image.Decode = pikepdf.Array(raster.decode)
    if raster.alpha is not None:
        mask = pikepdf.Stream(pdf, raster.alpha)
        mask.Type = pikepdf.Name("/XObject")
        mask.Subtype = pikepdf.Name("/Image")
        mask.Width = width
        mask.Height = height
        mask.ColorSpace = pikepdf.Name("/DeviceGray")
        mask.BitsPerComponent = 8
        mask.Filter = pikepdf.Name("/FlateDecode")
        image.SMask = mask

    # Points are 1/72 inch; four decimals keep the page within 0.0001 pt of the scan's size.
    page_width = round(width * 72 / dpi[0], 4)
    page_height = round(height * 72 / dpi[1], 4)
    content = f"q {page_width:.4f} 0 0 {page_height:.4f} 0 0 cm /Im0 Do Q".encode("ascii")
    page_dict = pikepdf.Dictionary(
        Type=pikepdf.Name("/Page"),
        MediaBox=pikepdf.Array([0, 0, page_width, page_height]),
        Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image)),
        Contents=pikepdf.Stream(pdf, content),
    )
    if page.rotate:
        page_dict.Rotate = page.rotate
    pdf.pages.append(pikepdf.Page(page_dict))


def _save_atomically(pdf: pikepdf.Pdf, out_pdf: Path) -> None:
    """Write next to ``out_pdf`` and rename, so no reader ever sees half a PDF."""
    fd, tmp_name = tempfile.mkstemp(dir=out_pdf.parent, prefix=f".{out_pdf.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        # A fixed /ID makes the output a function of the input: a retried job writes the same bytes.
        pdf.save(tmp, deterministic_id=True, min_version="1.5")
        tmp.replace(out_pdf)
    finally:
        tmp.unlink(missing_ok=True)
