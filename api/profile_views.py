"""HTTP only: the profile page's token and webhook-secret forms (session auth, CSRF-protected)."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import services


@login_required
@require_POST
def token_create(request):
    new = services.token_create(user=request.user, name=request.POST.get("name", ""))
    # The token is shown in this response only; it is not stored anywhere it could be shown again.
    response = render(request, "api/token_created.html", {"token": new.token, "raw": new.raw})
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request, pk: int):
    if not services.token_revoke(user=request.user, token_id=pk):
        raise Http404("No such token.")
    messages.info(request, "The token was revoked.")
    return redirect("profile")


@login_required
@require_POST
def webhook_secret_rotate(request):
    services.webhook_secret_rotate(user=request.user)
    messages.info(request, "A new webhook signing secret was made; the old one no longer verifies.")
    return redirect("profile")
