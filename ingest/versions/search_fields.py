"""What the search index says of a page's versions: its group, and whether it was released
differently (the ``versions`` job's results, copied onto the page records by ``ingest.index``).

- ``version_group``: the page-version group, so that search can fold the versions of one page
  in several releases into one hit and count the others ("also in 2 other releases");
- ``released_differently``: a version of the page in another public document shows words this
  one does not, or hides words this one shows, or carries another number of redaction boxes
  or other exemption codes. An OCR misreading alone does not count: it is not a release
  decision.

Only versions in public documents count, so that the index never hints at a release the
public cannot see. The index is rewritten for the documents whose groups the job changed
(``ingest.tasks``), so these fields follow the groups.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from app.models import Document, DocumentState, Page
from app.page_versions import PageFingerprint, PageMatch

_PUBLIC_STATES = (DocumentState.INDEXED, DocumentState.PARTIAL, DocumentState.DUPLICATE)


@dataclass(frozen=True)
class VersionFields:
    version_group: int | None
    released_differently: bool

    def record(self) -> dict[str, int | bool | None]:
        return {
            "version_group": self.version_group,
            "released_differently": self.released_differently,
        }


NO_VERSIONS = VersionFields(None, False)


def version_fields(session: Session, document_id: int) -> dict[int, VersionFields]:
    """The version fields of the document's pages that have versions, by page number."""
    groups = dict(
        session.execute(
            select(Page.number, PageFingerprint.group_id)
            .join(PageFingerprint, PageFingerprint.page_id == Page.id)
            .where(Page.document_id == document_id, PageFingerprint.group_id.is_not(None))
        )
        .tuples()
        .all()
    )
    if not groups:
        return {}
    here, there = aliased(Page), aliased(Page)
    other_doc = aliased(Document)
    rows = session.execute(
        select(
            here.number,
            PageMatch.only_a,
            PageMatch.only_b,
            here.redaction_count,
            there.redaction_count,
            here.exemptions,
            there.exemptions,
        )
        .join(here, or_(here.id == PageMatch.page_a_id, here.id == PageMatch.page_b_id))
        .join(
            there,
            or_(
                (there.id == PageMatch.page_b_id) & (here.id == PageMatch.page_a_id),
                (there.id == PageMatch.page_a_id) & (here.id == PageMatch.page_b_id),
            ),
        )
        .join(other_doc, other_doc.id == there.document_id)
        .where(
            here.document_id == document_id,
            other_doc.published.is_(True),
            other_doc.taken_down_at.is_(None),
            other_doc.state.in_(_PUBLIC_STATES),
        )
    ).all()
    differs: set[int] = set()
    for number, only_a, only_b, boxes_here, boxes_there, codes_here, codes_there in rows:
        if (
            only_a
            or only_b
            or boxes_here != boxes_there
            or sorted(codes_here or []) != sorted(codes_there or [])
        ):
            differs.add(number)
    return {number: VersionFields(group, number in differs) for number, group in groups.items()}
