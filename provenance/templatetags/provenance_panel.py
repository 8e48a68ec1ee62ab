"""{% provenance_panel media %}: the provenance card beside the verdict (raw=True adds the manifest JSON)."""
from django import template

from ..models import Provenance
from ..selectors import provenance_for

register = template.Library()


@register.inclusion_tag("provenance/_panel.html")
def provenance_panel(media, raw: bool = False):
    data = provenance_for(media)
    manifest_json = ""
    if raw and data is not None and data["status"] != Provenance.Status.NONE:
        manifest_json = media.provenance.manifest_json
    job = getattr(media, "job", None)
    return {"provenance": data, "manifest_json": manifest_json, "pending": job is not None and not job.is_final}
