"""The provenance section of the PDF report, drawn with the report's own heading, paragraph and fact helpers."""
from __future__ import annotations

from typing import Callable

MUTED = (91, 100, 117)


def draw_provenance(data: dict | None, *, heading: Callable, paragraph: Callable, fact: Callable) -> None:
    """Content Credentials' status and claims, the unsigned labels, and what none of it can prove."""
    heading("Provenance")
    if data is None:
        paragraph("Provenance was not read for this upload.")
        return
    paragraph(data["summary"], style="B")
    cc = data["content_credentials"]
    if cc["signer"]:
        fact("Signed by", cc["signer"] + (f", {cc['signed_at']}" if cc["signed_at"] else ""))
    if cc["claim_generator"]:
        fact("Made with", cc["claim_generator"])
    if cc["actions"]:
        fact("Actions", "; ".join(a["action"] + (f" ({a['digital_source_type']})" if a["digital_source_type"] else "")
                                  for a in cc["actions"][:6]))
    if cc["ingredients"]:
        fact("Ingredients", "; ".join(i["title"] or "untitled" for i in cc["ingredients"][:6]))
    if cc["validation_codes"]:
        fact("Failures", ", ".join(cc["validation_codes"][:6]), mono=True)
    paragraph(data["labels_summary"])
    paragraph(data["caveat"], size=8.5, style="I", colour=MUTED)
