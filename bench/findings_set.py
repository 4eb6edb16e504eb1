"""The known-answer set of the safety scan: generated PDFs whose findings are known.

Two halves, shared by the tests (tests/test_personal.py, tests/test_hidden_text.py) and the
benchmark (bench/findings.py):

- **personal data**: pages of FOIA-like prose and tables with planted identifiers of every
  kind (:data:`KINDS`) among look-alikes that are not personal data: Bates numbers, FOIA
  tracking numbers, court case numbers, dates that are not birth dates, government e-mail
  addresses and an agency's letterhead address. Each page knows what was planted on it.
- **failed redactions**: one page per way of hiding text (a black vector box, a black image,
  a white box, a black highlight annotation, an unapplied Redact annotation) and the ways of
  *not* hiding it that must not be flagged (a box over nothing, white text on a black bar,
  text on a shaded cell, a yellow highlight).

Values are drawn from a seeded random generator: the same seed, the same set.
"""

from __future__ import annotations

import ctypes
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf
import PIL.Image
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from reportlab.lib.pagesizes import letter
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

KINDS = (
    "ssn",
    "a_number",
    "date_of_birth",
    "phone",
    "email",
    "street_address",
    "passport",
    "drivers_license",
    "credit_card",
)
AREA_CODES = ("202", "212", "305", "312", "415", "520", "602", "617", "703", "713", "915", "956")
FIRST = ("maria", "jose", "ana", "luis", "carmen", "juan", "rosa", "pedro", "elena", "miguel")
LAST = ("garcia", "lopez", "martinez", "hernandez", "gonzalez", "perez", "sanchez", "ramirez")
STREETS = ("Maple", "Oak", "Cedar", "Elm", "Pine", "Walnut", "Sunset", "Mission", "Lincoln")
SUFFIXES = ("Street", "Avenue", "Road", "Drive", "Lane", "Blvd", "Court", "Way", "St.")
CITIES = (
    ("Tucson", "AZ", "857"),
    ("El Paso", "TX", "799"),
    ("Miami", "FL", "331"),
    ("San Diego", "CA", "921"),
    ("Chicago", "IL", "606"),
)
WEBMAIL = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com")


@dataclass
class KnownPage:
    """One page's lines and what is planted on it: (kind, value) pairs."""

    lines: list[str]
    planted: list[tuple[str, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class _Draw:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def digits(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789") for _ in range(n))

    def ssn(self) -> str:
        area = self.rng.randint(1, 665)
        group, serial = self.rng.randint(1, 99), self.rng.randint(1, 9999)
        return f"{area:03d}-{group:02d}-{serial:04d}"

    def a_number(self) -> str:
        shape = self.rng.randrange(4)
        digits = self.digits(9) if shape != 3 else self.digits(8)
        if shape == 0:
            return f"A{digits}"
        if shape == 1:
            return f"A-{digits[:3]}-{digits[3:6]}-{digits[6:]}"
        if shape == 2:
            return f"A# {digits[:3]}-{digits[3:6]}-{digits[6:]}"
        return f"A{digits}"

    def date(self) -> str:
        year, month, day = (
            self.rng.randint(1950, 2005),
            self.rng.randint(1, 12),
            self.rng.randint(1, 28),
        )
        shape = self.rng.randrange(3)
        if shape == 0:
            return f"{month:02d}/{day:02d}/{year}"
        if shape == 1:
            return f"{year}-{month:02d}-{day:02d}"
        months = ("January", "February", "March", "April", "May", "June", "July")
        return f"{months[month % 7]} {day}, {year}"

    def phone(self) -> str:
        area = self.rng.choice(AREA_CODES)
        exchange, line = self.rng.randint(201, 989), self.rng.randint(1000, 9999)
        shape = self.rng.randrange(3)
        if shape == 0:
            return f"({area}) {exchange}-{line}"
        if shape == 1:
            return f"{area}-{exchange}-{line}"
        return f"{area}.{exchange}.{line}"

    def email(self) -> str:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        return f"{first}.{last}{self.rng.randint(1, 99)}@{self.rng.choice(WEBMAIL)}"

    def address(self) -> str:
        city, state, zip3 = self.rng.choice(CITIES)
        street = (
            f"{self.rng.randint(10, 9899)} {self.rng.choice(STREETS)} {self.rng.choice(SUFFIXES)}"
        )
        unit = (
            f", Apt {self.rng.randint(1, 40)}{self.rng.choice('ABC')}"
            if self.rng.random() < 0.4
            else ""
        )
        return f"{street}{unit}, {city}, {state} {zip3}{self.digits(2)}"

    def passport(self) -> str:
        return (
            self.rng.choice(("", "G", "E")) + self.digits(8 if self.rng.random() < 0.5 else 9)[:8]
        )

    def license(self) -> str:
        return self.rng.choice(("D", "B", "")) + self.digits(7 + self.rng.randrange(2))

    def card(self) -> str:
        prefix = self.rng.choice(("4", "51", "37"))
        length = 15 if prefix == "37" else 16
        body = prefix + self.digits(length - len(prefix) - 1)
        check = _luhn_digit(body)
        number = body + check
        if length == 16:
            return " ".join(number[i : i + 4] for i in range(0, 16, 4))
        return f"{number[:4]} {number[4:10]} {number[10:]}"

    def bates(self) -> str:
        return self.rng.choice(
            (
                f"ICE-2021-{self.digits(6)}",
                f"2019-ICLI-00003 {self.digits(6)}",
                f"DHS-CBP-{self.digits(7)}",
            )
        )

    def tracking(self) -> str:
        return f"{self.rng.randint(2017, 2023)}-ICFO-{self.digits(5)}"

    def case(self) -> str:
        return f"{self.rng.randint(1, 5)}:{self.rng.randint(17, 23)}-cv-{self.digits(5)}"


def _luhn_digit(body: str) -> str:
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            value -= 9 if value > 9 else 0
        total += value
    return str((10 - total % 10) % 10)


def _planted_line(draw: _Draw, kind: str) -> tuple[str, str]:
    rng = draw.rng
    if kind == "ssn":
        value = draw.ssn()
        template = rng.choice(
            ("SSN: {v}", "Social Security Number {v} was provided.", "subject's SSN {v} on file")
        )
    elif kind == "a_number":
        value = draw.a_number()
        template = rng.choice(
            ("A-Number: {v}", "Subject {v} was encountered at the port.", "Alien No. {v}")
        )
    elif kind == "date_of_birth":
        value = draw.date()
        template = rng.choice(
            ("DOB: {v}", "Date of Birth: {v}", "born on {v} in Guatemala", "D.O.B. {v}")
        )
    elif kind == "phone":
        value = draw.phone()
        template = rng.choice(("Cell: {v}", "call her at {v} after 5 pm", "Home phone {v}"))
    elif kind == "email":
        value = draw.email()
        template = rng.choice(("Email: {v}", "wrote from {v} on Tuesday", "contact {v}"))
    elif kind == "street_address":
        value = draw.address()
        template = rng.choice(
            ("Home address: {v}", "She resides at {v} with her son.", "lives at {v}")
        )
    elif kind == "passport":
        value = draw.passport()
        template = rng.choice(
            ("Passport No. {v}", "passport number {v} (Honduras)", "Passport #: {v}")
        )
    elif kind == "drivers_license":
        value = draw.license()
        template = rng.choice(
            ("Driver's License: {v}", "DL# {v}", "driver license number {v} (TX)")
        )
    else:
        value = draw.card()
        template = rng.choice(
            ("Card number {v}", "paid with Visa {v}", "credit card {v} exp 04/27")
        )
    return template.format(v=value), value


def _lookalike_line(draw: _Draw) -> str:
    rng = draw.rng
    return rng.choice(
        (
            f"Bates {draw.bates()}",
            f"FOIA request {draw.tracking()} was received on {draw.date()}.",
            f"Case No. {draw.case()}, filed {draw.date()}",
            f"Tracking number {draw.tracking()}",
            f"Date: {draw.date()}",
            f"See Exhibit A, page {rng.randint(2, 90)} of {rng.randint(91, 300)}.",
            "Withheld under (b)(6) and (b)(7)(C).",
            f"From: {rng.choice(FIRST)}.{rng.choice(LAST)}@ice.dhs.gov",
            "Please contact foia@cbp.dhs.gov with questions.",
            f"Total: ${rng.randint(1, 999)},{draw.digits(3)}.{draw.digits(2)}",
            f"Form I-213 completed {draw.date()} by Officer {rng.choice(LAST).title()}",
            f"Docket {draw.digits(2)}-{draw.digits(4)} remains open.",
            f"Invoice {draw.digits(9)} dated {draw.date()}",
        )
    )


LETTERHEAD = [
    "U.S. Immigration and Customs Enforcement",
    "500 12th Street SW",
    "Washington, DC 20536",
]
PROSE = (
    "The detainee was processed at the field office and transferred the following week.",
    "Records responsive to the request are enclosed; portions are withheld as noted.",
    "The officer reviewed the file and found no further responsive material.",
    "A second interview was scheduled after the medical evaluation was completed.",
)


def known_pages(seed: int = 12, per_kind: int = 24) -> list[KnownPage]:
    """Pages with ``per_kind`` planted values of each kind among look-alikes."""
    draw = _Draw(seed)
    todo = [kind for kind in KINDS for _ in range(per_kind)]
    draw.rng.shuffle(todo)
    pages: list[KnownPage] = []
    while todo:
        page = KnownPage(list(LETTERHEAD) if draw.rng.random() < 0.3 else [])
        page.lines.append(f"Bates {draw.bates()}    Request {draw.tracking()}")
        for _ in range(draw.rng.randint(3, 5)):
            if not todo:
                break
            line, value = _planted_line(draw, todo.pop())
            page.lines += [draw.rng.choice(PROSE), line, _lookalike_line(draw)]
            page.planted.append((line_kind(line, value, page), value))
        page.lines.append(_lookalike_line(draw))
        pages.append(page)
    return pages


def line_kind(line: str, value: str, page: KnownPage) -> str:
    """The kind of a planted line (the templates of ``_planted_line`` tell it apart)."""
    del page
    for kind, words in (
        ("ssn", ("SSN", "Social Security")),
        ("a_number", ("A-Number", "Alien No", "Subject A")),
        ("date_of_birth", ("DOB", "Date of Birth", "born on", "D.O.B.")),
        ("phone", ("Cell", "call her", "Home phone")),
        ("email", ("Email", "wrote from", "contact ")),
        ("street_address", ("Home address", "resides at", "lives at")),
        ("passport", ("Passport", "passport")),
        ("drivers_license", ("Driver's License", "DL#", "driver license")),
        ("credit_card", ("Card number", "Visa", "credit card")),
    ):
        if any(word in line for word in words) and value in line:
            return kind
    raise ValueError(f"no kind for {line!r}")


def write_pages_pdf(path: Path, pages: Sequence[KnownPage]) -> Path:
    """A born-digital PDF, one known page per page, one line per text line."""
    pdf = canvas.Canvas(str(path), pagesize=letter, invariant=True)
    for page in pages:
        y = 740.0
        for line in page.lines:
            pdf.setFont("Helvetica", 10)
            pdf.drawString(60, y, line)
            y -= 14
        pdf.showPage()
    pdf.save()
    return path


# --- failed redactions ------------------------------------------------------------------------


@dataclass(frozen=True)
class RedactionCase:
    """One page: how it hides (or does not hide) its secret, and the kind expected (or None)."""

    name: str
    secret: str
    expected: str | None


REDACTION_CASES = (
    RedactionCase("black vector box", "Maria Lopez Garcia", "text_under_box"),
    RedactionCase("black image", "Jose Ramirez Perez", "text_under_image"),
    RedactionCase("white box", "Elena Sanchez Ortiz", "text_under_white_box"),
    RedactionCase("black highlight annotation", "Luis Gonzalez Vega", "text_under_annotation"),
    RedactionCase("unapplied Redact annotation", "Carmen Martinez Ruiz", "text_under_annotation"),
    RedactionCase("proper redaction: box over nothing", "", None),
    RedactionCase("white text on a black bar", "SECTION HEADING", None),
    RedactionCase("text on a shaded cell", "Pedro Hernandez", None),
    RedactionCase("yellow highlight", "Rosa Perez Luna", None),
)
_SECRET_AT = (200.0, 600.0)  # where each case draws its secret, PDF points from bottom left
_BOX = (195.0, 594.0, 200.0 + 150.0, 614.0)  # x0, y0, x1, y1 over it


def write_redaction_pdf(path: Path, cases: Sequence[RedactionCase] = REDACTION_CASES) -> Path:
    """One page per case: a line of prose, the secret drawn at one place, its cover."""
    pdf = canvas.Canvas(str(path), pagesize=letter, invariant=True)
    x0, y0, x1, y1 = _BOX
    for case in cases:
        pdf.setFont("Helvetica", 11)
        pdf.drawString(72, 700, f"Case: {case.name}. The interview notes follow.")
        if case.name == "text on a shaded cell":
            pdf.setFillColorRGB(0.85, 0.85, 0.85)
            pdf.rect(x0, y0, x1 - x0, y1 - y0, stroke=0, fill=1)
        if case.name == "white text on a black bar":
            pdf.setFillColorRGB(0, 0, 0)
            pdf.rect(x0, y0, x1 - x0, y1 - y0, stroke=0, fill=1)
            pdf.setFillColorRGB(1, 1, 1)
        else:
            pdf.setFillColorRGB(0, 0, 0)
        if case.secret:
            pdf.drawString(*_SECRET_AT, case.secret)
        pdf.setFillColorRGB(0, 0, 0)
        pdf.drawString(72, 580, "The rest of the page is visible text that stays public.")
        if case.name in ("black vector box", "proper redaction: box over nothing"):
            pdf.rect(x0, y0, x1 - x0, y1 - y0, stroke=0, fill=1)
        elif case.name == "white box":
            pdf.setFillColorRGB(1, 1, 1)
            pdf.rect(x0, y0, x1 - x0, y1 - y0, stroke=0, fill=1)
        elif case.name == "black image":
            buffer = io.BytesIO()
            PIL.Image.new("RGB", (60, 8), "black").save(buffer, "PNG")
            buffer.seek(0)
            pdf.drawImage(ImageReader(buffer), x0, y0, x1 - x0, y1 - y0)
        pdf.showPage()
    pdf.save()
    _add_annotations(path, cases)
    return path


def _add_annotations(path: Path, cases: Sequence[RedactionCase]) -> None:
    kinds = {
        "black highlight annotation": (pdfium_c.FPDF_ANNOT_HIGHLIGHT, (0, 0, 0)),
        "yellow highlight": (pdfium_c.FPDF_ANNOT_HIGHLIGHT, (255, 255, 0)),
    }
    _add_redact_marks(path, cases)
    if not any(case.name in kinds for case in cases):
        return
    pdf = pdfium.PdfDocument(path)
    x0, y0, x1, y1 = _BOX
    for index, case in enumerate(cases):
        if case.name not in kinds:
            continue
        subtype, (r, g, b) = kinds[case.name]
        page = pdf[index]
        annot = pdfium_c.FPDFPage_CreateAnnot(page.raw, subtype)
        pdfium_c.FPDFAnnot_SetColor(annot, pdfium_c.FPDFANNOT_COLORTYPE_Color, r, g, b, 255)
        quad = pdfium_c.FS_QUADPOINTSF(x0, y1, x1, y1, x0, y0, x1, y0)
        pdfium_c.FPDFAnnot_AppendAttachmentPoints(annot, ctypes.byref(quad))
        rect = pdfium_c.FS_RECTF(x0, y1, x1, y0)
        pdfium_c.FPDFAnnot_SetRect(annot, ctypes.byref(rect))
        pdfium_c.FPDFPage_CloseAnnot(annot)
        page.close()
    data = io.BytesIO()
    pdf.save(data)
    pdf.close()
    path.write_bytes(data.getvalue())


def _add_redact_marks(path: Path, cases: Sequence[RedactionCase]) -> None:
    """Redact annotations marked but never applied (pdfium cannot create them: pikepdf)."""
    indices = [i for i, case in enumerate(cases) if case.name == "unapplied Redact annotation"]
    if not indices:
        return
    x0, y0, x1, y1 = _BOX
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        for index in indices:
            annot = pdf.make_indirect(
                pikepdf.Dictionary(
                    Type=pikepdf.Name.Annot,
                    Subtype=pikepdf.Name.Redact,
                    Rect=pikepdf.Array([x0, y0, x1, y1]),
                    QuadPoints=pikepdf.Array([x0, y1, x1, y1, x0, y0, x1, y0]),
                    C=pikepdf.Array([1, 0, 0]),
                )
            )
            page = pdf.pages[index]
            page.obj.Annots = pikepdf.Array([annot])
        pdf.save(path)


# --- one production's worth, for the end-to-end and leak tests ------------------------------

PLANTED = {
    "hidden": "Zacarias Quintanilla",  # under a black box drawn over the text
    "ssn": "536-22-8841",
    "phone": "(520) 623-4410",
    "email": "quetzalli.ruiz77@gmail.com",
    "a_number": "A208-114-937",
}


def write_planted_pdf(path: Path) -> Path:
    """Three pages: a failed redaction, personal data, and a clean page (``okapi``)."""
    pdf = canvas.Canvas(str(path), pagesize=letter, invariant=True)
    pdf.setFont("Helvetica", 11)
    pdf.drawString(72, 700, "Record of interview, field office, page one.")
    before = "The witness named "
    pdf.drawString(72, 680, f"{before}{PLANTED['hidden']} as the driver.")
    pdf.drawString(72, 660, "The remainder of this page is released in full.")
    # Drawn after the text: it hides it from the eye, and from nobody who copies it.
    left = 72 + stringWidth(before, "Helvetica", 11)
    pdf.rect(
        left - 1, 676, stringWidth(PLANTED["hidden"], "Helvetica", 11) + 2, 14, stroke=0, fill=1
    )
    pdf.showPage()
    pdf.setFont("Helvetica", 11)
    lines = (
        "Detainee information sheet",
        f"SSN: {PLANTED['ssn']}",
        f"Cell: {PLANTED['phone']}",
        f"Email: {PLANTED['email']}",
        f"A-Number: {PLANTED['a_number']}",
        "FOIA request 2021-ICFO-21457, Bates ICE-2021-000123.",
    )
    for index, line in enumerate(lines):
        pdf.drawString(72, 700 - 20 * index, line)
    pdf.showPage()
    pdf.setFont("Helvetica", 11)
    pdf.drawString(72, 700, "A clean page about an okapi seen near the port of entry.")
    pdf.showPage()
    pdf.save()
    return path
