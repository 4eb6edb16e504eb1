"""Scanned-looking test inputs: text drawn as an image, no text layer."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def text_image(lines: list[str], *, size: tuple[int, int] = (1700, 2200)) -> Image.Image:
    """A white 200 DPI letter page with large black text, like a clean scan."""
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), 44) if FONT.exists() else ImageFont.load_default(size=44)
    y = 150
    for line in lines:
        draw.text((150, y), line, fill=0, font=font)
        y += 80
    return image


def scan_pdf(path: Path, pages: list[list[str]]) -> Path:
    """An image-only PDF, one scanned page per list of lines."""
    images = [text_image(lines) for lines in pages]
    images[0].save(path, "PDF", resolution=200, save_all=True, append_images=images[1:])
    return path


def scan_tiff(path: Path, pages: list[list[str]]) -> Path:
    """A multi-page TIFF scan (LZW), the way copiers export productions."""
    images = [text_image(lines) for lines in pages]
    images[0].save(
        path,
        "TIFF",
        compression="tiff_lzw",
        dpi=(200, 200),
        save_all=True,
        append_images=images[1:],
    )
    return path
