"""A small fictional FOIA production, generated (never downloaded) so a fresh install can search.

The set imitates what agencies really hand over: Outlook email printouts, memos, a purchase
order, a letter, a form and a printed table, with a Bates stamp on every page and exemption
markings beside solid black redaction boxes. A few documents are image-only "scans" with paper
tone, speckles, a slight skew and blur, so the OCR path has real work to do; one of them is
partly in Spanish.

Everything here is invented: the vendor (FaceTrace Analytics), the people, the case numbers and
the addresses, which use the reserved ``.example`` domain (RFC 2606).

Output is deterministic: reportlab's invariant mode fixes creation dates and document ids, and
each scan draws its noise from a generator seeded by its file name.

    python -m ingest.demo OUT_DIR
"""

from __future__ import annotations

import argparse
import datetime
import io
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image, ImageChops, ImageDraw, ImageFilter
from reportlab.lib.pagesizes import letter
from reportlab.lib.units import inch
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas


@dataclass(frozen=True)
class DemoFile:
    """One PDF of the demo production."""

    filename: str  # starts with the Bates number of its first page
    title: str
    scanned: bool  # True when every page is an image-only noisy scan (no text layer)
    pages: int
    phrases: tuple[str, ...]  # distinctive words that truly appear on the pages


@dataclass(frozen=True)
class DemoProduction:
    """The release the demo files belong to, as an archive would catalogue it."""

    agency: str
    request: str  # FOIA tracking number
    requester: str
    subject: str
    production: str
    release_date: datetime.date
    files: tuple[DemoFile, ...]


BATES_PREFIX = "ICE-2021-"
_SEED = "readingroom-demo-1"  # change it and every scan changes: the bytes are part of the demo
_SCAN_DPI = 200
_PAGE_W, _PAGE_H = letter
_LEFT = inch
_RIGHT = _PAGE_W - inch
_TOP = _PAGE_H - 0.9 * inch
_BOTTOM = inch  # leaves room for the Bates stamp below the text
_B6C = "(b)(6); (b)(7)(C)"  # the pair ICE claims for names of its staff and of third parties


def bates(number: int) -> str:
    """Format a page number of the production as its Bates stamp, e.g. ``ICE-2021-000123``."""
    return f"{BATES_PREFIX}{number:06d}"


def _width(text: str, font: str, size: float) -> float:
    return float(stringWidth(text, font, size))  # reportlab is untyped


@dataclass(frozen=True)
class _Box:
    """A redaction: a black box about ``chars`` characters wide, labelled with its exemptions."""

    chars: int
    codes: str = _B6C


_Part = str | _Box


class _Sheet:
    """A top-down cursor over a reportlab canvas that Bates-stamps every page it closes."""

    def __init__(self, canvas: Canvas, first_bates: int) -> None:
        self.canvas = canvas
        self.number = first_bates
        self.y = _TOP
        self.pages = 0
        self.header: str | None = None  # a control marking repeated on every page
        self.font = "Helvetica"  # body text of the document, until it says otherwise
        self.size = 11.0

    def line(
        self, *parts: _Part, font: str | None = None, size: float | None = None, x: float = _LEFT
    ) -> None:
        """Write one line of text and redactions, then move down."""
        font, size = font or self.font, size or self.size
        self.room(size * 1.4)
        for part in parts:
            x = self._part(x, self.y, part, font, size)
        self.y -= size * 1.4

    def field(self, label: str, *parts: _Part, size: float | None = None, tab: float = 72) -> None:
        """Write a ``Label:  value`` line as email headers and memo headings print them."""
        size = size or self.size
        self.room(size * 1.4)
        self.canvas.setFont("Helvetica-Bold", size)
        self.canvas.drawString(_LEFT, self.y, label)
        x = _LEFT + tab
        for part in parts:
            x = self._part(x, self.y, part, self.font, size)
        self.y -= size * 1.4

    def para(self, text: str, *, font: str | None = None, size: float | None = None) -> None:
        """Write a wrapped paragraph followed by a blank half line."""
        font, size = font or self.font, size or self.size
        for piece in simpleSplit(text, font, size, _RIGHT - _LEFT):
            self.line(piece, font=font, size=size)
        self.gap(size * 0.6)

    def withheld(self, lines: int, codes: str, *, size: float | None = None) -> None:
        """Black out a whole passage, the label printed beside the box as agencies do."""
        size = size or self.size
        height = lines * size * 1.4
        self.room(height)
        label_w = _width(codes, "Helvetica-Bold", 10)
        top = self.y + size
        self.canvas.rect(
            _LEFT, top - height, _RIGHT - _LEFT - label_w - 8, height, stroke=0, fill=1
        )
        self.canvas.setFont("Helvetica-Bold", 10)
        self.canvas.drawRightString(_RIGHT, top - height / 2 - 3, codes)
        self.y -= height + size * 0.6

    def table(
        self, rows: Sequence[Sequence[_Part]], widths: Sequence[float], size: float | None = None
    ) -> None:
        """Draw a ruled table; the first row is the bold header."""
        size = size or self.size
        row_h = size * 2.2
        self.room(row_h * len(rows))
        top = self.y + size
        self.canvas.setLineWidth(0.6)
        for r, row in enumerate(rows):
            x = _LEFT
            y = top - (r + 1) * row_h
            for width, cell in zip(widths, row, strict=True):
                self.canvas.rect(x, y, width, row_h, stroke=1, fill=0)
                font = "Helvetica-Bold" if r == 0 else "Helvetica"
                self._part(x + 4, y + row_h / 2 - size / 3, cell, font, size)
                x += width
        self.y = top - len(rows) * row_h - size * 1.6

    def gap(self, points: float = 8) -> None:
        """Leave vertical space."""
        self.y -= points

    def rule(self) -> None:
        """Draw a horizontal line across the text width, as Outlook prints under the owner."""
        self.canvas.setLineWidth(1.2)
        self.canvas.line(_LEFT, self.y + 6, _RIGHT, self.y + 6)
        self.y -= 8

    def room(self, height: float) -> None:
        """Start a new page when ``height`` more points would run into the footer."""
        if self.y - height < _BOTTOM:
            self.new_page()

    def new_page(self) -> None:
        """Close the current page (stamping it) and start the next."""
        self._stamp()
        self.canvas.showPage()
        self.y = _TOP

    def finish(self) -> int:
        """Stamp and close the last page; return how many pages were written."""
        self._stamp()
        self.canvas.showPage()
        self.canvas.save()
        return self.pages

    def _stamp(self) -> None:
        # The stamp sits in the bottom right margin, where reviewers' tools put it.
        if self.header:
            self.canvas.setFont("Helvetica-Bold", 8)
            self.canvas.drawCentredString(_PAGE_W / 2, _PAGE_H - 0.5 * inch, self.header)
            self.canvas.drawCentredString(_PAGE_W / 2, 0.5 * inch, self.header)
        self.canvas.setFont("Helvetica-Bold", 11)
        self.canvas.drawRightString(_PAGE_W - 0.55 * inch, 0.45 * inch, bates(self.number))
        self.number += 1
        self.pages += 1

    def _part(self, x: float, y: float, part: _Part, font: str, size: float) -> float:
        if isinstance(part, str):
            self.canvas.setFont(font, size)
            self.canvas.drawString(x, y, part)
            return x + _width(part, font, size)
        # Nothing is written under the box: a demo of bad redactions would be a separate file.
        width = part.chars * size * 0.55
        self.canvas.rect(x + 1, y - size * 0.25, width, size * 1.1, stroke=0, fill=1)
        label = min(size, 9.5)
        self.canvas.setFont("Helvetica-Bold", label)
        self.canvas.drawString(x + width + 5, y, part.codes)
        return x + width + 9 + _width(part.codes, "Helvetica-Bold", label)


# --- the documents -----------------------------------------------------------------------------
# Each function draws one document; its page count and phrases are declared in DEMO below.


def _outlook_owner(s: _Sheet) -> None:
    # Outlook prints the mailbox owner's name above a heavy rule; the owner is redacted here.
    s.line(_Box(16), font="Helvetica-Bold", size=13)
    s.rule()
    s.gap(4)


def _email_trial(s: _Sheet) -> None:
    _outlook_owner(s)
    s.field("From:", _Box(16))
    s.field("Sent:", "Tuesday, February 9, 2021 4:12 PM")
    s.field("To:", _Box(14), "; ", _Box(12))
    s.field("Cc:", "HSI Cyber Crimes Center; ", _Box(12))
    s.field("Subject:", "RE: FaceTrace trial accounts - GLASS HERON")
    s.gap(10)
    s.para("All,")
    s.para(
        "FaceTrace has agreed to extend the trial accounts for the GLASS HERON field offices "
        "through March 31. Each office gets five named users. Please send me the names and "
        "badge numbers of your users by Friday so I can pass them to the vendor."
    )
    s.para(
        "Reminder: the trial accounts are for investigative leads only. A possible match from "
        "the tool is not an identification and must be corroborated before any enforcement "
        "action. Do not upload images from the following sources:"
    )
    s.withheld(3, "(b)(7)(E)")
    s.para("Questions to me or to the Cyber Crimes Center mailbox.")
    s.line(_Box(14))
    s.line("Section Chief, Cyber Crimes Center")
    s.line("Homeland Security Investigations")
    s.new_page()  # Outlook starts the quoted message wherever the page ends; here, a new one
    s.field("From:", "Jules Placeholder <jules.placeholder@facetrace.example>")
    s.field("Sent:", "Monday, February 8, 2021 10:03 AM")
    s.field("To:", _Box(16))
    s.field("Subject:", "FaceTrace trial accounts")
    s.gap(10)
    s.para("Hello,")
    s.para(
        "Thank you for the call this morning. As discussed, FaceTrace Analytics is happy to "
        "extend your team's trial accounts at no cost. The extended trial includes unlimited "
        "searches against our gallery of publicly available images, the mobile app, and the "
        "case-sharing workspace."
    )
    s.para(
        "Pricing for a paid deployment after the trial is attached. We can offer the "
        "government discount discussed on the call:"
    )
    s.line("Per-seat price: ", _Box(8, "(b)(4)"))
    s.gap(6)
    s.para("Best regards,")
    s.line("Jules Placeholder")
    s.line("Public Sector Accounts, FaceTrace Analytics LLC")


def _memo_pilot(s: _Sheet) -> None:
    s.header = "UNCLASSIFIED//LAW ENFORCEMENT SENSITIVE"
    s.font, s.size = "Times-Roman", 12
    s.line("U.S. Department of Homeland Security", font="Times-Bold")
    s.line("U.S. Immigration and Customs Enforcement", font="Times-Bold")
    s.line("500 12th Street SW, Washington, DC 20536", size=10)
    s.gap(16)
    s.line("MEMORANDUM FOR:", font="Times-Bold")
    s.line(_Box(20), x=_LEFT + 36)
    s.line("Assistant Director, Investigative Programs", x=_LEFT + 36)
    s.gap(4)
    s.line("FROM:", font="Times-Bold")
    s.line(_Box(20), x=_LEFT + 36)
    s.line("Unit Chief, Biometric Technologies Unit", x=_LEFT + 36)
    s.gap(4)
    s.line("SUBJECT: Request to approve a 90-day biometric search pilot", font="Times-Bold")
    s.line("DATE: February 19, 2021", font="Times-Bold")
    s.gap(12)
    s.line("Purpose", font="Times-Bold")
    s.para(
        "This memorandum requests approval of a 90-day biometric search pilot, GLASS HERON, in "
        "which investigators in three field offices may submit probe images to the commercial "
        "FaceTrace service to generate investigative leads."
    )
    s.line("Background", font="Times-Bold")
    s.para(
        "FaceTrace Analytics LLC operates a face-recognition search engine over a gallery of "
        "images collected from public websites. Several state and local partners already use the "
        "service. HSI personnel used free trial accounts between December 2020 and February "
        "2021 without a documented approval or a privacy review."
    )
    s.line("Discussion", font="Times-Bold")
    s.withheld(6, "(b)(5)")
    s.para(
        "During the pilot, searches would be limited to cases involving child exploitation, "
        "human trafficking and identity fraud. Each search would be logged with the case number "
        "and the name of the requesting agent, and reviewed monthly by the program office."
    )
    s.new_page()
    s.line("Safeguards", font="Times-Bold")
    s.para(
        "No probe image may be retained by the vendor beyond 30 days. Results must be treated as "
        "leads only and verified by an examiner before any arrest or removal decision. The "
        "following operational limits apply:"
    )
    s.withheld(4, "(b)(7)(E)")
    s.line("Recommendation", font="Times-Bold")
    s.para(
        "That you approve the biometric search pilot and direct the Privacy Unit to complete a "
        "Privacy Threshold Analysis before the first search."
    )
    s.gap(10)
    s.line("APPROVE: ", _Box(18))
    s.line("DISAPPROVE: ________________________")
    s.line("MODIFY: ____________________________")
    s.gap(8)
    s.line("cc: Office of the Principal Legal Advisor; ICE Privacy Unit", size=10)


def _purchase_order(s: _Sheet) -> None:
    s.line("ORDER FOR SUPPLIES OR SERVICES", font="Helvetica-Bold", size=14)
    s.line("U.S. Immigration and Customs Enforcement, Office of Acquisition Management", size=10)
    s.gap(8)
    s.table(
        [
            ["1. ORDER NUMBER", "2. DATE OF ORDER", "3. CONTRACT TYPE"],
            ["70CDEMO21P00000142", "03/02/2021", "FIRM FIXED PRICE"],
        ],
        [2.2 * inch, 2.0 * inch, 2.3 * inch],
        size=10,
    )
    s.field("Contractor:", "FaceTrace Analytics LLC", tab=110)
    s.field("Address:", "400 Sample Avenue, Suite 12, Springfield, ZZ 00000", tab=110)
    s.field("Point of contact:", "Jules Placeholder, jules.placeholder@facetrace.example", tab=110)
    s.field("Ship to:", "HSI Cyber Crimes Center, ", _Box(10, "(b)(7)(E)"), tab=110)
    s.field("Contracting officer:", _Box(16), tab=110)
    s.gap(10)
    s.line("SCHEDULE OF SUPPLIES/SERVICES", font="Helvetica-Bold", size=11)
    s.table(
        [
            ["CLIN", "DESCRIPTION", "QTY", "UNIT", "UNIT PRICE", "AMOUNT"],
            [
                "0001",
                "FaceTrace annual subscription, named user",
                "15",
                "EA",
                _Box(4, "(b)(4)"),
                "",
            ],
            ["0002", "Onboarding and investigator training", "1", "LOT", _Box(4, "(b)(4)"), ""],
            ["0003", "Audit log export module", "1", "EA", _Box(4, "(b)(4)"), ""],
            ["", "TOTAL", "", "", "", "$224,750.00"],
        ],
        [0.5 * inch, 2.6 * inch, 0.5 * inch, 0.5 * inch, 1.1 * inch, 1.3 * inch],
        size=9,
    )
    s.para(
        "Period of performance: March 8, 2021 through March 7, 2022. Funds are obligated from "
        "the HSI investigative technology line. Delivery is electronic: the contractor issues "
        "named-user credentials to the persons listed by the contracting officer's "
        "representative.",
        size=10,
    )
    s.new_page()
    s.line("TERMS AND CONDITIONS", font="Helvetica-Bold", size=12)
    s.gap(4)
    terms = [
        "1. Data ownership. Probe images and search results submitted or generated under this "
        "order are Government data. The contractor shall not use them to train or improve its "
        "models and shall delete them within 30 days of the search.",
        "2. Audit. The contractor shall keep a log of every search with the user, the date and "
        "the case number entered, and shall export it to the Government monthly.",
        "3. Security. User accounts require multi-factor authentication. The hosting "
        "environment shall meet the controls listed in the attached security addendum.",
        "4. Publicity. The contractor shall not announce or advertise this order without the "
        "written consent of the contracting officer.",
    ]
    for term in terms:
        s.para(term, size=10)
    s.withheld(3, "(b)(7)(E)", size=10)
    s.gap(20)
    s.line("CONTRACTOR SIGNATURE: Jules Placeholder    DATE: 03/03/2021", size=10)
    s.gap(6)
    s.line("CONTRACTING OFFICER SIGNATURE: ", _Box(16), "    DATE: 03/02/2021", size=10)


def _email_results_scan(s: _Sheet) -> None:
    s.size = 12  # scans get bigger type so OCR still reads them through the noise
    _outlook_owner(s)
    s.field("From:", _Box(16), tab=80)
    s.field("Sent:", "Wednesday, March 17, 2021 9:41 AM", tab=80)
    s.field("To:", _Box(16), tab=80)
    s.field("Subject:", "FaceTrace results - investigative lead", tab=80)
    s.gap(12)
    s.para(
        "I ran the probe image from the storefront camera through FaceTrace this morning. "
        "The tool returned one possible match with a high score, linked to a public social "
        "media profile."
    )
    s.line("Profile name: ", _Box(14))
    s.line("Case number: ", _Box(10, "(b)(7)(A)"))
    s.gap(6)
    s.para(
        "This is an investigative lead only. I have asked the examiner to compare the "
        "images before we take any further step, per the pilot rules."
    )
    s.para("Thanks,")
    s.line(_Box(14))
    s.line("Special Agent, HSI Newark")


def _letter_pricing(s: _Sheet) -> None:
    s.line("FaceTrace Analytics LLC", font="Times-Bold", size=18)
    s.line(
        "400 Sample Avenue, Suite 12  |  Springfield, ZZ 00000  |  facetrace.example",
        font="Times-Roman",
        size=10,
    )
    s.rule()
    s.gap(16)
    s.font, s.size = "Times-Roman", 12
    s.line("January 22, 2021")
    s.gap(10)
    s.line(_Box(18))
    s.line("Homeland Security Investigations")
    s.line("U.S. Immigration and Customs Enforcement")
    s.line("Washington, DC 20536")
    s.gap(12)
    s.line("Re: Government pricing for the FaceTrace Sentinel tier", font="Times-Bold")
    s.gap(8)
    s.line("Dear ", _Box(12), ":")
    s.gap(6)
    paragraphs = [
        "Thank you for your interest in FaceTrace. Our search engine helps investigators turn a "
        "single photograph into leads within seconds, drawing on a gallery of more than three "
        "billion images gathered from the open web.",
        "We are pleased to offer Homeland Security Investigations government pricing for the "
        "Sentinel tier, which includes unlimited searches, case folders shared across offices, "
        "an audit log, and priority support. Pricing for fifteen named users is enclosed.",
        "Many of our law enforcement customers begin with a short pilot. We would welcome the "
        "chance to brief your privacy office on how FaceTrace stores and deletes probe images.",
    ]
    for paragraph in paragraphs:
        s.para(paragraph)
    s.line("Enclosed pricing: ", _Box(20, "(b)(4)"))
    s.gap(12)
    s.line("Sincerely,")
    s.gap(18)
    s.line("Dana Quillfeather")
    s.line("Chief Executive Officer, FaceTrace Analytics LLC")


def _form_pta(s: _Sheet) -> None:
    s.size = 10
    s.line("PRIVACY THRESHOLD ANALYSIS (PTA)", font="Helvetica-Bold", size=14)
    s.line("DHS Privacy Office  |  Form version 2020-1", size=9)
    s.gap(6)
    s.table(
        [
            ["PTA number", "Date submitted", "Component"],
            ["PRIV-TA-2021-0113", "March 1, 2021", "ICE / HSI"],
        ],
        [2.2 * inch, 2.1 * inch, 2.2 * inch],
    )
    s.line("Section 1. Project information", font="Helvetica-Bold", size=11)
    s.field("Project name:", "GLASS HERON face-recognition pilot (FaceTrace)", tab=120)
    s.field("Program manager:", _Box(16), tab=120)
    s.field("Phone / email:", _Box(18), tab=120)
    s.field("System owner:", "HSI Cyber Crimes Center", tab=120)
    s.gap(6)
    s.line("Section 2. Does the project collect personally identifiable information (PII)?")
    s.line("[X] Yes      [ ] No", font="Courier-Bold", x=_LEFT + 18)
    s.line("If yes, check all that apply:")
    for item in [
        "[X] Facial images (probe images submitted by investigators)",
        "[X] Names and online profile links returned as results",
        "[ ] Fingerprints or other biometrics",
        "[X] Case numbers and user names in the audit log",
    ]:
        s.line(item, font="Courier", x=_LEFT + 18)
    s.gap(6)
    s.line("Section 3. Describe how the information is used.", font="Helvetica-Bold", size=11)
    s.para(
        "Investigators upload facial images of unknown subjects. The vendor compares them with "
        "its gallery and returns candidate images with links to where they were found. Results "
        "are leads and are not stored in ICE systems unless they are added to a case file."
    )
    s.new_page()
    s.line("Section 4. Sharing and retention", font="Helvetica-Bold", size=11)
    s.para(
        "Probe images are held by the vendor for up to 30 days. Search logs are exported "
        "monthly. Information is shared outside DHS only as follows:"
    )
    s.withheld(3, "(b)(7)(E)")
    s.line("Section 5. Privacy Office determination", font="Helvetica-Bold", size=11)
    s.line("[X] Privacy sensitive system. A PIA update is required.", font="Courier")
    s.line("[ ] Not privacy sensitive.", font="Courier")
    s.gap(4)
    s.para("Privacy Office comments:")
    s.withheld(4, "(b)(5)")
    s.field("Reviewer:", _Box(16), tab=120)
    s.field("Date of determination:", "March 12, 2021", tab=120)


def _table_search_log(s: _Sheet) -> None:
    s.line("FaceTrace pilot - monthly search log summary", font="Helvetica-Bold", size=13)
    s.line("Reporting period: March 1-31, 2021. Prepared for the program office.", size=10)
    s.gap(6)
    rows: list[list[_Part]] = [["Date", "Field office", "Case no.", "Searches", "Result"]]
    log = [
        ("03/03", "Newark", "2", "possible match"),
        ("03/04", "Houston", "1", "no match"),
        ("03/09", "Newark", "4", "possible match"),
        ("03/11", "San Diego", "1", "no match"),
        ("03/15", "Houston", "3", "possible match"),
        ("03/17", "Newark", "1", "possible match"),
        ("03/22", "San Diego", "2", "no match"),
        ("03/26", "Houston", "5", "possible match"),
        ("03/30", "Newark", "1", "no match"),
    ]
    for date, office, count, result in log:
        rows.append([date, office, _Box(5, "(b)(7)(A)"), count, result])
    rows.append(["Total", "", "", "20", "5 possible match, 4 no match"])
    s.table(rows, [0.8 * inch, 1.2 * inch, 1.9 * inch, 0.9 * inch, 1.7 * inch], size=9)
    s.para(
        "A possible match is a candidate returned above the vendor's default score threshold. "
        "None of the candidates was used as the sole basis for an arrest. Examiner review "
        "results are tracked separately.",
        size=10,
    )
    s.line("Prepared by: ", _Box(14), size=10)


def _notice_spanish_scan(s: _Sheet) -> None:
    s.size = 12
    s.line("AVISO DE PRIVACIDAD", font="Helvetica-Bold", size=18)
    s.line("Uso de reconocimiento facial en investigaciones", font="Helvetica-Bold", size=13)
    s.gap(8)
    spanish = [
        "El Servicio de Inmigración y Control de Aduanas (ICE) puede comparar fotografías con "
        "una base de datos comercial de imágenes públicas mediante un programa de "
        "reconocimiento facial. El resultado es solamente una pista de investigación.",
        "Las fotografías enviadas al proveedor se eliminan en un plazo de treinta días. Usted "
        "puede pedir información sobre este programa a la Oficina de Privacidad.",
    ]
    for paragraph in spanish:
        s.para(paragraph)
    s.line("Contacto: privacidad@ice.dhs.example")
    s.gap(14)
    s.line("PRIVACY NOTICE", font="Helvetica-Bold", size=18)
    s.line("Use of face recognition in investigations", font="Helvetica-Bold", size=13)
    s.gap(8)
    s.para(
        "U.S. Immigration and Customs Enforcement (ICE) may compare photographs with a "
        "commercial database of public images using biometric face-recognition software. The "
        "result is only an investigative lead."
    )
    s.para(
        "Photographs sent to the vendor are deleted within thirty days. You may ask the "
        "Privacy Office for information about this program."
    )
    s.line("Translated by: ", _Box(14))


def _notes_briefing_scan(s: _Sheet) -> None:
    s.font, s.size = "Courier-Bold", 12  # a heavy ribbon: thin Courier scans poorly
    s.line("MEETING NOTES - FACETRACE ACCURACY BRIEFING")
    s.line("Date: April 6, 2021   Location: HSI HQ, Room 4100")
    s.line("Attendees: ", _Box(12), ", ", _Box(10))
    s.gap(10)
    notes = [
        "1. Vendor presented accuracy figures from its own testing. No independent test of the "
        "FaceTrace algorithm has been published.",
        "2. Vendor claims a false positive rate below one in a million for good quality probe "
        "images. Rate for low quality surveillance stills was not provided.",
        "3. Field offices report that most GLASS HERON searches used surveillance stills.",
        "4. Examiner review found two candidates that were not the same person as the probe.",
    ]
    for note in notes:
        s.para(note)
    s.withheld(4, "(b)(5)")
    s.new_page()
    s.line("MEETING NOTES - PAGE 2")
    s.gap(10)
    notes = [
        "5. Action: Privacy Unit to add accuracy testing to the PIA update.",
        "6. Action: program office to ask the vendor for error rates by age, sex and skin tone.",
        "7. Action: pause new user accounts until the accuracy briefing questions are answered.",
    ]
    for note in notes:
        s.para(note)
    s.line("Next meeting: May 4, 2021")
    s.gap(10)
    s.line("Notes taken by: ", _Box(12))


def _email_press(s: _Sheet) -> None:
    _outlook_owner(s)
    s.field("From:", _Box(16))
    s.field("Sent:", "Thursday, April 15, 2021 2:27 PM")
    s.field("To:", "ICE Office of Public Affairs; ", _Box(12))
    s.field("Cc:", _Box(14))
    s.field("Subject:", "Press inquiry - FaceTrace - draft talking points")
    s.gap(10)
    s.para(
        "A reporter from a national outlet has sent a press inquiry asking whether HSI uses "
        "FaceTrace, how many searches were run during the trial, and whether a privacy review "
        "was done. Deadline is 5 PM tomorrow."
    )
    s.para("Draft talking points for review below. Not cleared.")
    s.withheld(7, "(b)(5)")
    s.para(
        "Please send edits to me by noon. Refer any follow-up questions about specific cases "
        "to the Office of the Principal Legal Advisor."
    )
    s.line(_Box(14))
    s.line("Deputy Assistant Director, Office of Public Affairs")
    s.line("Reporter contact: ", _Box(22))


# DemoFile(filename, title, scanned, pages, phrases), then the function that draws it.
_DOCUMENTS: tuple[tuple[DemoFile, Callable[[_Sheet], None]], ...] = (
    (
        DemoFile(
            "ICE-2021-000001_email_facetrace_trial.pdf",
            "Email chain: FaceTrace trial accounts for HSI field offices",
            False,
            2,
            ("FaceTrace", "trial accounts", "GLASS HERON", "investigative leads"),
        ),
        _email_trial,
    ),
    (
        DemoFile(
            "ICE-2021-000003_memo_pilot_approval.pdf",
            "Memorandum: request to approve a 90-day biometric search pilot",
            False,
            2,
            ("MEMORANDUM FOR", "biometric search pilot", "GLASS HERON", "probe images"),
        ),
        _memo_pilot,
    ),
    (
        DemoFile(
            "ICE-2021-000005_purchase_order_facetrace.pdf",
            "Purchase order 70CDEMO21P00000142 for FaceTrace subscriptions",
            False,
            2,
            ("70CDEMO21P00000142", "FIRM FIXED PRICE", "annual subscription", "$224,750.00"),
        ),
        _purchase_order,
    ),
    (
        DemoFile(
            "ICE-2021-000007_email_search_results_scan.pdf",
            "Scanned email: FaceTrace results for an investigative lead",
            True,
            1,
            ("FaceTrace", "possible match", "investigative lead", "storefront camera"),
        ),
        _email_results_scan,
    ),
    (
        DemoFile(
            "ICE-2021-000008_letter_facetrace_pricing.pdf",
            "Letter from FaceTrace Analytics offering government pricing",
            False,
            1,
            ("Sentinel tier", "government pricing", "Dana Quillfeather", "three billion images"),
        ),
        _letter_pricing,
    ),
    (
        DemoFile(
            "ICE-2021-000009_form_privacy_threshold_analysis.pdf",
            "Privacy Threshold Analysis form for the GLASS HERON pilot",
            False,
            2,
            ("PRIVACY THRESHOLD ANALYSIS", "PRIV-TA-2021-0113", "Facial images", "PIA update"),
        ),
        _form_pta,
    ),
    (
        DemoFile(
            "ICE-2021-000011_table_pilot_search_log.pdf",
            "Table: FaceTrace pilot search log summary, March 2021",
            False,
            1,
            ("search log summary", "possible match", "San Diego", "score threshold"),
        ),
        _table_search_log,
    ),
    (
        DemoFile(
            "ICE-2021-000012_notice_privacidad_scan.pdf",
            "Scanned notice: Aviso de privacidad / privacy notice on face recognition",
            True,
            1,
            # "información" needs tesseract's Spanish model to keep its accent.
            ("AVISO DE PRIVACIDAD", "reconocimiento facial", "información", "PRIVACY NOTICE"),
        ),
        _notice_spanish_scan,
    ),
    (
        DemoFile(
            "ICE-2021-000013_notes_accuracy_briefing_scan.pdf",
            "Scanned meeting notes: FaceTrace accuracy briefing",
            True,
            2,
            ("ACCURACY BRIEFING", "false positive", "GLASS HERON", "skin tone"),
        ),
        _notes_briefing_scan,
    ),
    (
        DemoFile(
            "ICE-2021-000015_email_press_inquiry.pdf",
            "Email: press inquiry about FaceTrace and draft talking points",
            False,
            1,
            ("press inquiry", "talking points", "FaceTrace", "Office of Public Affairs"),
        ),
        _email_press,
    ),
)

DEMO = DemoProduction(
    agency="ICE",
    request="2021-ICFO-21457",
    requester="Rowan Exempli, Lantern Press Collective (fictional)",
    subject="Records about ICE's use of the FaceTrace face-recognition service",
    production="Interim Release 1",
    release_date=datetime.date(2021, 9, 14),
    files=tuple(demo_file for demo_file, _ in _DOCUMENTS),
)


# --- rendering ---------------------------------------------------------------------------------


def _new_canvas(buffer: io.BytesIO) -> Canvas:
    # invariant=1 pins the creation date and the /ID, so a rerun writes identical bytes.
    return Canvas(buffer, pagesize=letter, invariant=1, pageCompression=1)


def _render_digital(demo_file: DemoFile, draw: Callable[[_Sheet], None], first: int) -> bytes:
    buffer = io.BytesIO()
    canvas = _new_canvas(buffer)
    canvas.setTitle(demo_file.title)
    canvas.setCreator("readingroom demo generator")
    sheet = _Sheet(canvas, first)
    draw(sheet)
    pages = sheet.finish()
    if pages != demo_file.pages:
        raise RuntimeError(
            f"{demo_file.filename}: drew {pages} pages, DEMO declares {demo_file.pages}"
        )
    return buffer.getvalue()


def _age(page: Image.Image, rng: random.Random) -> Image.Image:
    """Make a clean greyscale render look like a photocopied page fed through a scanner."""
    width, height = page.size
    # Paper is never white and toner never black: squeeze the range to greys.
    page = page.point([int(30 + v * (228 - 30) / 255) for v in range(256)])
    draw = ImageDraw.Draw(page)
    # Dust and toner specks, a few of them in clumps as on a dirty platen.
    for _ in range(300):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.5, 1.8)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=rng.randint(40, 140))
    for _ in range(4):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        for _ in range(30):
            x, y = cx + rng.gauss(0, 12), cy + rng.gauss(0, 12)
            r = rng.uniform(0.5, 1.5)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=rng.randint(40, 140))
    # A shadow along the edge the lid did not close on.
    draw.rectangle((0, 0, rng.randint(8, 18), height), fill=70)
    # The sheet sat a little crooked on the glass: under 1.5 degrees, never exactly straight.
    angle = rng.choice((-1, 1)) * rng.uniform(0.3, 0.9)
    page = page.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=228)
    page = page.filter(ImageFilter.GaussianBlur(rng.uniform(0.55, 0.8)))
    # Uneven lamp: a little darker towards one side.
    shade = Image.linear_gradient("L").rotate(90).resize(page.size)
    page = ImageChops.subtract(page, shade.point([v * 14 // 255 for v in range(256)]))
    # Sensor noise: uniform bytes from the seeded generator, narrowed to +/-10 levels.
    noise = Image.frombytes("L", page.size, rng.randbytes(width * height))
    noise = noise.point([118 + v * 20 // 255 for v in range(256)])
    return ImageChops.add(page, noise, scale=1.0, offset=-128)


def _scan(clean_pdf: bytes, rng: random.Random) -> bytes:
    """Rasterise every page, age it, and rebuild the PDF from the images alone (no text layer)."""
    buffer = io.BytesIO()
    canvas = _new_canvas(buffer)
    pdf = pdfium.PdfDocument(clean_pdf)
    try:
        for index in range(len(pdf)):
            page = pdf[index]
            try:
                image = page.render(scale=_SCAN_DPI / 72, grayscale=True).to_pil()
            finally:
                page.close()
            jpeg = io.BytesIO()
            # JPEG keeps a noisy page near 400 KB; Flate would store the noise almost raw.
            _age(image, rng).save(jpeg, "JPEG", quality=60, dpi=(_SCAN_DPI, _SCAN_DPI))
            canvas.drawImage(ImageReader(jpeg), 0, 0, width=_PAGE_W, height=_PAGE_H)
            canvas.showPage()
    finally:
        pdf.close()
    canvas.save()
    return buffer.getvalue()


def _render(index: int) -> bytes:
    """Return the bytes of ``DEMO.files[index]``, Bates-numbered after the files before it."""
    demo_file, draw = _DOCUMENTS[index]
    first = 1 + sum(f.pages for f, _ in _DOCUMENTS[:index])
    if not demo_file.filename.startswith(bates(first) + "_"):
        raise RuntimeError(f"{demo_file.filename} should start with {bates(first)}")
    data = _render_digital(demo_file, draw, first)
    if demo_file.scanned:
        # Seeded by name so one scan's noise does not depend on the documents before it.
        # S311: a reproducible generator is the point here; it draws noise, not secrets.
        rng = random.Random(f"{_SEED}:{demo_file.filename}")  # noqa: S311
        data = _scan(data, rng)
    return data


def generate_demo_production(out_dir: Path) -> list[Path]:
    """Write the demo PDFs into ``out_dir`` (created if missing) and return their paths.

    Deterministic: the same bytes every run. A file that already holds the right bytes is left
    untouched (its mtime too), so ingest sees nothing new; any other file is replaced atomically,
    so an interrupted run never leaves half a PDF for ingest to pick up.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, demo_file in enumerate(DEMO.files):
        path = out_dir / demo_file.filename
        data = _render(index)
        if not (path.is_file() and path.read_bytes() == data):
            partial = path.with_name(path.name + ".part")
            partial.write_bytes(data)
            partial.replace(path)
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m ingest.demo OUT_DIR``."""
    parser = argparse.ArgumentParser(description="Write the fictional demo FOIA production.")
    parser.add_argument("out_dir", type=Path, help="directory to write the PDFs into")
    args = parser.parse_args(argv)
    for path in generate_demo_production(args.out_dir):
        print(path)


if __name__ == "__main__":
    main()
