"""{% models_health %}: the model part of the moderators' health page (serving, shadow and how the two agree)."""
from django import template

from .. import charts, selectors

register = template.Library()


@register.inclusion_tag("registry/_health_models.html")
def models_health() -> dict:
    models = selectors.models_overview()
    comparison, pictures = models["comparison"], {}
    if comparison and comparison["n"]:
        serving_threshold = models["serving"].card.get("threshold", 0.5) if models["serving"] else 0.5
        pictures["agreement"] = charts.agreement_scatter(
            comparison["pairs"], serving_threshold=serving_threshold or 0.5,
            shadow_threshold=comparison["shadow_threshold"])
        pictures["accuracy"] = charts.accuracy_bars(
            comparison["serving_accuracy"], comparison["shadow_accuracy"], comparison["reviewed"])
    return {"models": models, "charts": pictures}
