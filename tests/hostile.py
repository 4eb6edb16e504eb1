"""Hostile files, made at test time: zip bombs, zip slip, a 10,000-page PDF, active content,
polyglots, decompression bombs, hostile file names, empty and truncated files.

Nothing here is committed as a binary: every file is generated into a folder the test gives,
in about two seconds of CPU for the whole set. Each ``HostileFile`` says what the pipeline must
make of it (the final states allowed and a phrase its reason must contain), the name it is
uploaded under (which may be hostile where the disk cannot hold it: "/", NUL, 300 characters)
and the paths a zip-slip archive aims at, which must never exist afterwards.

ZIPs are written by hand (``write_zip``) rather than with ``zipfile``: a bomb's members are
gigabytes of zeros, and compressing them at test time would take minutes, while the deflate
stream of zeros is the same block repeated, so it can be assembled in milliseconds; and the
hand-written headers can lie (a declared size smaller than the data, a symlink type bit).
"""

from __future__ import annotations

import io
import stat
import struct
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf
from PIL import Image
from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas

MIB = 1024**2

# Final states of a document (ARCHITECTURE.md).
FINAL_STATES = frozenset({"indexed", "partial", "duplicate", "encrypted", "unsupported", "failed"})
READABLE = frozenset({"indexed"})


@dataclass(frozen=True)
class HostileFile:
    """One hostile input and what must become of it."""

    label: str
    """Short unique id, also the kind's example in docs/reliability.md."""
    kind: str
    """The family it belongs to (zip bomb, zip slip, polyglot...), for the report."""
    path: Path
    """The bytes, on disk under a name the disk can hold (the CLI ingests this)."""
    upload_name: str
    """The file name sent to the upload API: may hold "/", NUL, control characters."""
    expected: frozenset[str]
    """The final states allowed for every document this file becomes."""
    reason_contains: str | None = None
    """A phrase the (lower-cased) reason must contain when the state is not ``indexed``."""
    forbidden: tuple[Path, ...] = ()
    """Paths a zip-slip member aims at: they must not exist after the ingest."""
    documents: int = 1
    """How many documents the file becomes (a ZIP: one per regular member)."""
    slow: bool = False
    """Needs a longer per-file time bound (the 10,000-page PDF)."""


# --- small building blocks -----------------------------------------------------------------------


def text_pdf(pages: Sequence[str]) -> bytes:
    """A born-digital PDF with one line of text per page."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=letter, invariant=True)
    for line in pages:
        pdf.setFont("Helvetica", 12)
        pdf.drawString(72, 720, line)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _unique_words(label: str) -> str:
    # Distinct text per file keeps every file a document of its own, never a duplicate.
    return f"hostile input {label} record {uuid.uuid4().hex[:12]} released under the act"


@dataclass(frozen=True)
class ZipEntry:
    """One member of a hand-written ZIP: raw (already compressed) data and its header facts."""

    name: str
    data: bytes
    crc: int
    size: int
    method: int = 8  # 0 stored, 8 deflate
    mode: int = stat.S_IFREG | 0o644
    declared_size: int | None = None  # a header may lie about the unpacked size


def stored(name: str, payload: bytes, *, mode: int = stat.S_IFREG | 0o644) -> ZipEntry:
    """A member stored as it is (method 0)."""
    return ZipEntry(name, payload, zlib.crc32(payload), len(payload), method=0, mode=mode)


def zeros_deflated(name: str, mib: int, *, declared_size: int | None = None) -> ZipEntry:
    """``mib`` MiB of zeros, deflated, assembled from one repeated block in milliseconds.

    Each 1 MiB block is compressed with a full flush, which resets the compressor, so every
    block's output is identical and the stream is that block ``mib`` times plus an empty final
    block: about 1,000 to 1, as real zip bombs are.
    """
    chunk = bytes(MIB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(chunk, crc)
    return ZipEntry(name, block * mib + final, crc, mib * MIB, declared_size=declared_size)


def write_zip(path: Path, entries: Sequence[ZipEntry], *, prefix: bytes = b"") -> Path:
    """Write a ZIP (no ZIP64: every size under 4 GiB) with Unix modes, optionally after
    ``prefix`` bytes (a polyglot's other format)."""
    body = bytearray(prefix)
    central = bytearray()
    for entry in entries:
        name = entry.name.encode("utf-8")
        size = entry.size if entry.declared_size is None else entry.declared_size
        offset = len(body)
        flags = 0x800  # names are UTF-8
        body += struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            20,
            flags,
            entry.method,
            0,
            0x21,
            entry.crc,
            len(entry.data),
            size,
            len(name),
            0,
        )
        body += name + entry.data
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            (3 << 8) | 20,  # made by Unix, so the mode's file-type bits count
            20,
            flags,
            entry.method,
            0,
            0x21,
            entry.crc,
            len(entry.data),
            size,
            len(name),
            0,
            0,
            0,
            0,
            entry.mode << 16,
            offset,
        )
        central += name
    directory_offset = len(body)
    body += central
    body += struct.pack(
        "<IHHHHIIH",
        0x06054B50,
        0,
        0,
        len(entries),
        len(entries),
        len(central),
        directory_offset,
        0,
    )
    path.write_bytes(bytes(body))
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bomb(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` pixels, with a few bytes of data."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    idat = zlib.compress(bytes(1 + (width + 7) // 8) * 4)  # a few rows; the rest is missing
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def tiff_bomb(width: int, height: int) -> bytes:
    """A little-endian TIFF declaring ``width`` x ``height`` 1-bit pixels in one tiny strip."""
    strip = bytes(64)
    entries = [
        (256, 4, 1, width),  # ImageWidth, LONG
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 1),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 0),  # Photometric: white is zero
        (273, 4, 1, 0),  # StripOffsets, patched below
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, len(strip)),  # StripByteCounts (far fewer than declared)
    ]
    ifd_offset = 8
    ifd_size = 2 + 12 * len(entries) + 4
    strip_offset = ifd_offset + ifd_size
    out = bytearray(b"II*\x00" + struct.pack("<I", ifd_offset))
    out += struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        if tag == 273:
            value = strip_offset
        packed = struct.pack("<I", value) if kind == 4 else struct.pack("<HH", value, 0)
        out += struct.pack("<HHI", tag, kind, count) + packed
    out += struct.pack("<I", 0)
    out += strip
    return bytes(out)


def huge_image_pdf(side: int) -> bytes:
    """One letter page showing a ``side`` x ``side`` 8-bit grey image (white, Flate).

    ``side`` = 20,000 is 400 million pixels, 400 MB decoded, in a PDF of about 400 KB.
    """
    compressor = zlib.compressobj(9)
    row = bytes([255]) * side
    chunks = [compressor.compress(row) for _ in range(side)]
    data = b"".join(chunks) + compressor.flush()
    pdf = pikepdf.new()
    image = pikepdf.Stream(pdf, data)
    image.Type = pikepdf.Name.XObject
    image.Subtype = pikepdf.Name.Image
    image.Width = side
    image.Height = side
    image.ColorSpace = pikepdf.Name.DeviceGray
    image.BitsPerComponent = 8
    image.Filter = pikepdf.Name.FlateDecode
    content = b"q 612 0 0 792 0 0 cm /Im0 Do Q"
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, 612, 792],
        Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image)),
        Contents=pikepdf.Stream(pdf, content),
    )
    pdf.pages.append(pikepdf.Page(page))
    buffer = io.BytesIO()
    pdf.save(buffer)
    return buffer.getvalue()


def many_pages_pdf(pages: int, label: str) -> bytes:
    """A PDF of ``pages`` pages with text (so no page needs OCR), in well under ten seconds:
    one reportlab page, repeated by pikepdf (the pages share their content stream)."""
    single = pikepdf.open(io.BytesIO(text_pdf([_unique_words(label)])))
    first = single.pages[0]
    for _ in range(pages - 1):
        single.pages.append(first)
    buffer = io.BytesIO()
    single.save(buffer)
    return buffer.getvalue()


def active_content_pdf(label: str, *, javascript: bool, embedded: bool, launch: bool) -> bytes:
    """A text PDF carrying active content: document-level /JavaScript and an /OpenAction,
    an /EmbeddedFiles attachment (an "invoice.exe"), a /Launch action on open."""
    pdf = pikepdf.open(io.BytesIO(text_pdf([_unique_words(label)])))
    root = pdf.Root
    names = pikepdf.Dictionary()
    if javascript:
        script = pikepdf.Dictionary(
            S=pikepdf.Name.JavaScript,
            JS=pikepdf.String("app.alert('readingroom hostile'); this.exportDataObject({});"),
        )
        names.JavaScript = pikepdf.Dictionary(Names=[pikepdf.String("hostile"), script])
        root.OpenAction = script
        root.AA = pikepdf.Dictionary(WC=script)
    if embedded:
        payload = b"MZ\x90\x00" + b"hostile executable payload " * 40
        stream = pikepdf.Stream(pdf, payload)
        stream.Type = pikepdf.Name.EmbeddedFile
        spec = pikepdf.Dictionary(
            Type=pikepdf.Name.Filespec,
            F=pikepdf.String("invoice.exe"),
            UF=pikepdf.String("invoice.exe"),
            EF=pikepdf.Dictionary(F=stream),
        )
        names.EmbeddedFiles = pikepdf.Dictionary(Names=[pikepdf.String("invoice.exe"), spec])
    if launch:
        root.OpenAction = pikepdf.Dictionary(
            S=pikepdf.Name.Launch,
            F=pikepdf.String("/bin/sh"),
            Win=pikepdf.Dictionary(F=pikepdf.String("cmd.exe"), P=pikepdf.String("/c calc")),
        )
    if len(names):
        root.Names = names
    buffer = io.BytesIO()
    pdf.save(buffer)
    return buffer.getvalue()


def tiny_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (64, 64), 255).save(buffer, "JPEG")
    return buffer.getvalue()


# --- the set -------------------------------------------------------------------------------------


@dataclass
class HostileSet:
    """Every hostile file, written in ``folder``."""

    folder: Path
    files: list[HostileFile] = field(default_factory=list)

    def add(self, item: HostileFile) -> None:
        self.files.append(item)


def make_hostile_set(folder: Path, *, big_pdf_pages: int | None = 10_000) -> HostileSet:
    """Write every hostile file into ``folder`` (created) and describe what must become of it.

    ``big_pdf_pages=None`` leaves out the 10,000-page PDF (its test makes its own).
    """
    folder.mkdir(parents=True, exist_ok=True)
    made = HostileSet(folder)
    token = uuid.uuid4().hex[:12]

    def put(name: str, data: bytes) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    # Zip bombs. One honest member of 256 MiB of zeros (ratio ~1,000 to 1).
    made.add(
        HostileFile(
            "zip-bomb-one-member",
            "zip bomb",
            write_zip(folder / "bomb-one-member.zip", [zeros_deflated("zeros.pdf", 256)]),
            "bomb-one-member.zip",
            frozenset({"failed"}),
            "zip bomb",
        )
    )
    # A header that says 1 MiB while the data inflates to 512 MiB: zipfile reads no more
    # than the declared size, so the member ends short of its CRC and is refused as damaged.
    made.add(
        HostileFile(
            "zip-bomb-lying-header",
            "zip bomb",
            write_zip(
                folder / "bomb-lying-header.zip",
                [zeros_deflated("small.pdf", 512, declared_size=MIB)],
            ),
            "bomb-lying-header.zip",
            frozenset({"failed"}),
            "damaged",
        )
    )
    # Many members each just under the per-member ratio test: 200 x 60 MiB = 11.7 GiB declared,
    # from a 12 MB archive; then the same again one level down, inside a nested ZIP.
    base = zeros_deflated("page.tif", 60)
    many = [ZipEntry(f"page-{i:03}.tif", base.data, base.crc, base.size) for i in range(200)]
    made.add(
        HostileFile(
            "zip-bomb-many-members",
            "zip bomb",
            write_zip(folder / "bomb-many-members.zip", many),
            "bomb-many-members.zip",
            frozenset({"failed"}),
            "zip bomb",
        )
    )
    inner = folder / "inner.zip"
    write_zip(inner, many[:40])
    inner_bytes = inner.read_bytes()
    inner.unlink()
    made.add(
        HostileFile(
            "zip-bomb-nested",
            "zip bomb",
            write_zip(
                folder / "bomb-nested.zip",
                [stored(f"volume-{i}.zip", inner_bytes) for i in range(4)],
            ),
            "bomb-nested.zip",
            frozenset({"failed"}),
            "zip bomb",
        )
    )
    # Archives nested six deep, each holding the next: refused past three levels.
    deep = stored("core.pdf", text_pdf([_unique_words("deep")]))
    for level in range(6):
        layer = folder / f"layer-{level}.zip"
        write_zip(layer, [deep])
        deep = stored(f"layer-{level}.zip", layer.read_bytes())
        layer.unlink()
    made.add(
        HostileFile(
            "zip-nested-deep",
            "zip bomb",
            write_zip(folder / "nested-deep.zip", [deep]),
            "nested-deep.zip",
            frozenset({"failed"}),
            "nested",
        )
    )

    # Zip slip: names climbing out, absolute names, a drive letter, a symlink member.
    slip_names = [
        "../../etc/readingroom-slip.pdf",
        f"../../../../../../../../../../tmp/readingroom-slip-{token}.pdf",
        f"/tmp/readingroom-slip-abs-{token}.pdf",
        "C:\\..\\..\\windows\\readingroom-slip.pdf",
        "docs/../../../readingroom-slip-inner.pdf",
        # Longer than any file name or database column: kept as a label, shortened.
        "deep/" + "x" * 1000 + ".pdf",
        "tab\there\x1b[2J\u202eslip.pdf",
    ]
    slip_entries = [
        stored(name, text_pdf([_unique_words(f"slip{i}")])) for i, name in enumerate(slip_names)
    ]
    slip_entries.append(
        stored(f"link-{token}.pdf", b"/etc/passwd", mode=stat.S_IFLNK | 0o777)  # skipped
    )
    made.add(
        HostileFile(
            "zip-slip",
            "zip slip",
            write_zip(folder / "slip.zip", slip_entries),
            "slip.zip",
            READABLE,
            forbidden=(
                Path(f"/tmp/readingroom-slip-{token}.pdf"),
                Path(f"/tmp/readingroom-slip-abs-{token}.pdf"),
                Path("/etc/readingroom-slip.pdf"),
                Path(f"/tmp/link-{token}.pdf"),
            ),
            documents=len(slip_names),
        )
    )

    # Size: 10,000 pages.
    if big_pdf_pages is not None:
        made.add(
            HostileFile(
                "pdf-10000-pages",
                "huge PDF",
                put("ten-thousand-pages.pdf", many_pages_pdf(big_pdf_pages, "big")),
                "ten-thousand-pages.pdf",
                READABLE,
                slow=True,
            )
        )

    # Active content: it is kept in the original, never run, never extracted.
    for label, flags in (
        ("pdf-javascript", {"javascript": True, "embedded": False, "launch": False}),
        ("pdf-embedded-file", {"javascript": False, "embedded": True, "launch": False}),
        ("pdf-launch-action", {"javascript": False, "embedded": False, "launch": True}),
        ("pdf-all-active", {"javascript": True, "embedded": True, "launch": True}),
    ):
        made.add(
            HostileFile(
                label,
                "active content",
                put(f"{label}.pdf", active_content_pdf(label, **flags)),
                f"{label}.pdf",
                READABLE,
            )
        )

    # Polyglots.
    pdf_then_zip = text_pdf([_unique_words("pdfzip")])
    zip_tail = folder / "tail.zip"
    write_zip(zip_tail, [stored("inside.pdf", text_pdf([_unique_words("zipinside")]))])
    made.add(
        HostileFile(
            "polyglot-pdf-zip",
            "polyglot",
            put("pdf-and-zip.pdf", pdf_then_zip + zip_tail.read_bytes()),
            "pdf-and-zip.pdf",
            READABLE,
        )
    )
    zip_tail.unlink()
    made.add(
        HostileFile(
            "polyglot-zip-pdf",
            "polyglot",
            write_zip(
                folder / "zip-and-pdf.pdf",
                [stored("member.pdf", text_pdf([_unique_words("zipfirst")]))],
                prefix=b"",
            ),
            "zip-and-pdf.pdf",
            READABLE,
        )
    )
    made.add(
        HostileFile(
            "polyglot-jpeg-pdf",
            "polyglot",
            put("photo.jpg", tiny_jpeg() + text_pdf([_unique_words("jpegpdf")])),
            "photo.jpg",
            frozenset({"indexed"}),
        )
    )
    made.add(
        HostileFile(
            "html-named-pdf",
            "polyglot",
            put(
                "release.pdf",
                b"<!doctype html><html><body><script>alert(document.cookie)</script>"
                b"<h1>Not a PDF</h1></body></html>",
            ),
            "release.pdf",
            frozenset({"unsupported"}),
            "not a pdf",
        )
    )

    # Decompression bombs in images.
    made.add(
        HostileFile(
            "png-bomb",
            "image bomb",
            put("scan-bomb.png", png_bomb(100_000, 100_000)),
            "scan-bomb.png",
            frozenset({"failed"}),
            "pixels",
        )
    )
    made.add(
        HostileFile(
            "tiff-bomb",
            "image bomb",
            put("scan-bomb.tif", tiff_bomb(60_000, 60_000)),
            "scan-bomb.tif",
            frozenset({"failed"}),
            "pixels",
        )
    )
    made.add(
        HostileFile(
            "pdf-20000px-image",
            "image bomb",
            put("huge-image-page.pdf", huge_image_pdf(20_000)),
            "huge-image-page.pdf",
            frozenset({"indexed", "partial"}),
            "ocr",
        )
    )

    # Hostile names: on disk where the disk can hold them, else only in the upload.
    names = [
        ("name-traversal", "traversal.pdf", "../../x.pdf"),
        ("name-absolute", "absolute.pdf", "/etc/passwd.pdf"),
        ("name-windows", "windows.pdf", "C:\\Windows\\System32\\x.pdf"),
        ("name-newline", "a\nb.pdf", "a\nb.pdf"),
        ("name-nul", "nul.pdf", "a\x00b.pdf"),
        ("name-controls", "esc\x1b[31mred\x07.pdf", "esc\x1b[31mred\x07.pdf"),
        ("name-rtl", "invoice\u202efdp.exe", "invoice\u202efdp.exe"),
        ("name-long", "n" * 246 + ".pdf", "n" * 296 + ".pdf"),
        ("name-dash", "-rf.pdf", "-rf.pdf"),
        ("name-dots", "..pdf", ".."),
        ("name-quote", 'say "hi"; x=y.pdf', 'say "hi"; x=y.pdf'),
    ]
    for label, disk_name, upload_name in names:
        made.add(
            HostileFile(
                label,
                "hostile name",
                put(disk_name, text_pdf([_unique_words(label)])),
                upload_name,
                READABLE,
            )
        )

    # Empty and truncated.
    made.add(
        HostileFile(
            "empty", "empty", put("empty.pdf", b""), "empty.pdf", frozenset({"failed"}), "empty"
        )
    )
    # Cut before the page tree: qpdf's repair finds no pages to rebuild.
    whole = text_pdf([_unique_words("truncated"), "second page", "third page"])
    made.add(
        HostileFile(
            "truncated-pdf",
            "truncated",
            put("truncated.pdf", whole[: len(whole) // 2]),
            "truncated.pdf",
            frozenset({"failed"}),
            "damaged",
        )
    )
    return made
