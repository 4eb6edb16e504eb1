"""Generated releases with known answers: the same records released twice, differently.

For the versions tests (tests/test_versions*.py) and the benchmark (bench/versions.py). A
*record page* is an e-mail (senders share signature blocks and one long confidentiality
notice, so different e-mails overlap by 40 words or more) or an I-213 style form (every form
has the same labels, other people's values). Each carries sensitive spans (names, phone
numbers, A-numbers) that a release may redact: a redacted span is printed ``(b)(6)``.

:func:`release_pair` makes two productions of one request:

- **A**, the interim release: records 1-200 in 20 documents of 10 pages, stamped
  ``ICE-2021-000001``…, with records 131-140 missing (a Bates gap) and 51-53 replaced by
  slip-sheets; every document opens with a fax cover sheet and some end with a blank page;
- **B**, the re-release: the same records with another redaction set, documents shuffled and
  two of them merged into one, OCR-like noise on a third of the pages, records 131-135 now
  released but 136-140 still missing, 171-175 missing, and 91-92 slip-sheets.

``truth`` lists the record pages released in both: the version pairs a comparison must find.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import wordfreq

DISCLAIMER = (
    "WARNING: This document is UNCLASSIFIED//FOR OFFICIAL USE ONLY (U//FOUO). It contains "
    "information that may be exempt from public release under the Freedom of Information Act "
    "(5 U.S.C. 552). It is to be controlled, stored, handled, transmitted, distributed, and "
    "disposed of in accordance with DHS policy relating to FOUO information and is not to be "
    "released to the public or other personnel who do not have a valid need-to-know without "
    "prior approval of an authorized DHS official."
)
FAX_COVER = (
    "FAX COVER SHEET\nU.S. Immigration and Customs Enforcement\nOffice of the Principal Legal "
    "Advisor\nTo: FOIA Office Fax: 202-732-4265\nFrom: Records Division\nPages including "
    "cover: {pages}\nComments: responsive records attached"
)
BLANK = "This page intentionally left blank"
SLIP_SHEETS = (
    "Page withheld pursuant to exemption (b)(5)\nof the Freedom of Information Act",
    "WIF (b)(6)",
)
FORM_LABELS = (
    "FORM I-213 RECORD OF DEPORTABLE/INADMISSIBLE ALIEN U.S. Department of Homeland Security "
    "Family Name First Middle Sex Hair Eyes Cmplxn Country of Citizenship Passport Number and "
    "Country of Issue File Number Height Weight Occupation Date Place Time and Manner of Last "
    "Entry Narrative (Outline particulars under which alien was located/apprehended)"
)


@dataclass
class Span:
    words: list[str]
    sensitive: bool


@dataclass
class Record:
    key: str
    spans: list[Span]

    def text(self, redacted: set[int], noise: random.Random | None = None) -> str:
        """The page as a release prints it: ``redacted`` spans shown as ``(b)(6)``."""
        out: list[str] = []
        for i, span in enumerate(self.spans):
            if span.sensitive and i in redacted:
                out.append("(b)(6)")
            else:
                out.extend(span.words)
        if noise is not None:
            out = [ocr_noise(w, noise) if noise.random() < 0.08 else w for w in out]
        lines = [" ".join(out[i : i + 12]) for i in range(0, len(out), 12)]
        return "\n".join(lines)

    def sensitive_spans(self) -> list[int]:
        return [i for i, s in enumerate(self.spans) if s.sensitive]


@dataclass
class GenPage:
    text: str
    bates: str | None
    record: str | None  # the record page it is a version of; None for covers, blanks, slips
    kind: str  # "record", "slip", "cover", "blank"
    redacted: set[int] = field(default_factory=set)
    noisy: bool = False


@dataclass
class GenDocument:
    title: str
    pages: list[GenPage]


@dataclass
class GenProduction:
    title: str
    documents: list[GenDocument]


@dataclass
class ReleasePair:
    a: GenProduction
    b: GenProduction
    records: dict[str, Record]
    truth: set[str]  # records released as record pages in both productions


_LOOKALIKES = {"e": "c", "o": "0", "l": "1", "i": "l", "m": "rn", "h": "b", "a": "o", "s": "5"}


def ocr_noise(word: str, rng: random.Random) -> str:
    """A word as a poor scan reads it: a look-alike letter, a letter lost."""
    spots = [i for i, c in enumerate(word) if c.lower() in _LOOKALIKES]
    if spots and rng.random() < 0.8:
        i = rng.choice(spots)
        return word[:i] + _LOOKALIKES[word[i].lower()] + word[i + 1 :]
    if len(word) > 3:
        i = rng.randrange(len(word))
        return word[:i] + word[i + 1 :]
    return word


class Writer:
    """Random but plausible record pages from one seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.vocabulary = [w for w in wordfreq.top_n_list("en", 6000) if w.isalpha()][50:]
        syllables = ["ka", "ro", "mi", "lan", "tor", "ve", "sa", "du", "ne", "por", "li", "gar"]
        self.names = [
            "".join(self.rng.choice(syllables) for _ in range(self.rng.randint(2, 3))).title()
            for _ in range(400)
        ]
        self.senders = [
            (self.person(), self.rng.choice(["Deportation Officer", "Supervisory Agent"]))
            for _ in range(6)
        ]

    def person(self) -> list[str]:
        return [self.rng.choice(self.names), self.rng.choice(self.names)]

    def sentence(self) -> list[str]:
        words = self.rng.choices(self.vocabulary, k=self.rng.randint(8, 16))
        words[0] = words[0].title()
        words[-1] += "."
        return words

    def phone(self) -> list[str]:
        return [
            f"({self.rng.randint(200, 999)})",
            f"{self.rng.randint(200, 999)}-{1000 + self.rng.randint(0, 8999)}",
        ]

    def email(self, key: str) -> Record:
        sender, title = self.rng.choice(self.senders)
        spans = [
            Span(["From:"], False),
            Span(sender, True),
            Span(["Sent:", f"{self.rng.randint(1, 28)}", "March", "2021", "To:"], False),
            Span(self.person(), True),
            Span(["Subject:", *self.sentence()[:6]], False),
        ]
        for _ in range(self.rng.randint(5, 12)):
            spans.append(Span(self.sentence(), False))
            if self.rng.random() < 0.45:
                spans.append(Span(self.person() if self.rng.random() < 0.7 else self.phone(), True))
        spans += [
            Span(sender, True),
            Span([title, "Enforcement", "and", "Removal", "Operations", "Desk:"], False),
            Span(self.phone(), True),
            Span(DISCLAIMER.split(), False),
        ]
        return Record(key, spans)

    def form(self, key: str) -> Record:
        spans = [Span(FORM_LABELS.split()[:22], False), Span(self.person(), True)]
        spans.append(Span(FORM_LABELS.split()[22:], False))
        spans.append(Span([f"A{self.rng.randint(10**7, 10**8 - 1)}"], True))
        for _ in range(self.rng.randint(2, 4)):
            spans.append(Span(self.sentence(), False))
        return Record(key, spans)

    def record(self, key: str) -> Record:
        return self.form(key) if self.rng.random() < 0.2 else self.email(key)

    def redaction_set(self, record: Record, share: float) -> set[int]:
        """The spans one release redacts: a name is hidden everywhere on the page or nowhere,
        as a reviewer redacts a person, not an occurrence."""
        values = sorted({" ".join(record.spans[i].words) for i in record.sensitive_spans()})
        hidden = {v for v in values if self.rng.random() < share}
        return {i for i in record.sensitive_spans() if " ".join(record.spans[i].words) in hidden}


def bates(number: int) -> str:
    return f"ICE-2021-{number:06d}"


def release_pair(seed: int = 7, records: int = 200, per_document: int = 10) -> ReleasePair:
    """Two releases of one request with known answers (see the module docstring)."""
    writer = Writer(seed)
    rng = writer.rng
    made = {f"r{n:03d}": writer.record(f"r{n:03d}") for n in range(1, records + 1)}

    def number(key: str) -> int:
        return int(key[1:])

    def page(key: str, redacted: set[int], *, noisy: bool, slip: str | None = None) -> GenPage:
        if slip is not None:
            return GenPage(f"{slip}\n{bates(number(key))}", bates(number(key)), None, "slip")
        noise = random.Random(rng.random()) if noisy else None
        text = made[key].text(redacted, noise) + f"\n{bates(number(key))}"
        return GenPage(text, bates(number(key)), key, "record", redacted, noisy)

    def documents(
        keys: list[str], prefix: str, skip: set[int], slips: dict[int, str], noisy_share: float
    ) -> list[GenDocument]:
        docs = []
        for start in range(0, len(keys), per_document):
            chunk = keys[start : start + per_document]
            pages = []
            for key in chunk:
                n = number(key)
                if n in skip:
                    continue
                if n in slips:
                    pages.append(page(key, set(), noisy=False, slip=slips[n]))
                    continue
                redacted = writer.redaction_set(made[key], 0.5)
                pages.append(page(key, redacted, noisy=rng.random() < noisy_share))
            if not pages:
                continue
            cover = GenPage(FAX_COVER.format(pages=len(pages) + 1), None, None, "cover")
            pages.insert(0, cover)
            if rng.random() < 0.3:
                pages.append(GenPage(BLANK, None, None, "blank"))
            docs.append(GenDocument(f"{prefix} records {chunk[0]}-{chunk[-1]}", pages))
        return docs

    keys = sorted(made)
    a_docs = documents(
        keys,
        "Interim release",
        skip=set(range(131, 141)),
        slips={51: SLIP_SHEETS[0], 52: SLIP_SHEETS[0], 53: SLIP_SHEETS[0]},
        noisy_share=0.0,
    )
    b_docs = documents(
        keys,
        "Re-release",
        skip=set(range(136, 141)) | set(range(171, 176)),
        slips={91: SLIP_SHEETS[1], 92: SLIP_SHEETS[1]},
        noisy_share=0.33,
    )
    # Two documents released as one file, then the whole order shuffled.
    merged = GenDocument(f"{b_docs[7].title} and more", b_docs[7].pages + b_docs[8].pages[1:])
    b_docs = [*b_docs[:7], merged, *b_docs[9:]]
    rng.shuffle(b_docs)

    def released(production: list[GenDocument]) -> set[str]:
        return {p.record for d in production for p in d.pages if p.record is not None}

    return ReleasePair(
        GenProduction("Interim Release 1", a_docs),
        GenProduction("Re-release after litigation", b_docs),
        made,
        released(a_docs) & released(b_docs),
    )
