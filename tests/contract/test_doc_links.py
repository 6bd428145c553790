"""The documents link to each other instead of repeating themselves, so every relative link must
land: on a file that exists and, with a #fragment, on a heading (or an explicit anchor) of it. The
alarms in template.yaml link into the runbook the same way."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])

_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6} (.+?)\s*$", re.MULTILINE)
_ANCHOR = re.compile(r"<a id=\"([^\"]+)\"></a>")
_RUNBOOK_LINK = re.compile(r"docs/runbook\.md#([a-z0-9-]+)")


def _slug(heading: str) -> str:
    # GitHub's rule: lower case, punctuation dropped (backticks, colons, commas...), spaces to hyphens.
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(document: Path) -> set[str]:
    text = _FENCE.sub("", document.read_text())
    found: set[str] = set(_ANCHOR.findall(text))
    seen: dict[str, int] = {}
    for heading in _HEADING.findall(text):
        slug = _slug(heading)
        count = seen.get(slug, 0)
        found.add(slug if count == 0 else f"{slug}-{count}")
        seen[slug] = count + 1
    return found


def links(document: Path) -> list[str]:
    return [
        target
        for target in _LINK.findall(_FENCE.sub("", document.read_text()))
        if not re.match(r"[a-z]+:", target)
    ]


def test_the_slug_rule_matches_githubs() -> None:
    assert _slug("Cost per 1,000 jobs") == "cost-per-1000-jobs"
    assert _slug("Sample events and `sam local`") == "sample-events-and-sam-local"
    assert _slug("Idempotency: the job record is the record") == "idempotency-the-job-record-is-the-record"


def test_the_documents_have_links_to_check() -> None:
    # Guards the scan: a pattern that matched nothing would pass the test below.
    assert len(DOCUMENTS) >= 7
    assert sum(len(links(document)) for document in DOCUMENTS) > 50


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_lands(document: Path) -> None:
    broken = []
    for target in links(document):
        path, _, fragment = target.partition("#")
        landing = (document.parent / path).resolve() if path else document
        if not landing.exists():
            broken.append(target)
            continue
        if fragment and not (landing.suffix == ".md" and fragment in anchors(landing)):
            broken.append(target)
    assert broken == []


def test_every_runbook_link_of_the_template_lands() -> None:
    targets = set(_RUNBOOK_LINK.findall((ROOT / "template.yaml").read_text()))
    assert len(targets) >= 15
    assert sorted(targets - anchors(ROOT / "docs" / "runbook.md")) == []
