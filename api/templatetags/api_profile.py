"""Template tag: the API section of the profile page (tokens and the webhook signing secret)."""
from django import template

from .. import selectors, services

register = template.Library()


@register.inclusion_tag("api/profile_section.html", takes_context=True)
def api_profile_section(context):
    """The profile page's API section: the user's active tokens and webhook signing secret."""
    request = context["request"]
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "tokens": selectors.token_list_for_user(request.user),
        "webhook_secret": services.webhook_secret_for(user=request.user).secret,
    }
