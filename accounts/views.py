"""Pages of accounts: sign-up and the profile (log-in, log-out and password pages are Django's own)."""
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from detection.selectors import media_count_for_user

from .forms import SignupForm
from .services import user_create


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("detection:upload")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = user_create(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("detection:upload")
    return render(request, "registration/form.html", {"form": form, "title": "Sign up", "submit": "Sign up"})


@login_required
def profile(request):
    context = {
        "roles": sorted(group.name for group in request.user.groups.all()),
        "upload_count": media_count_for_user(request.user),
    }
    return render(request, "accounts/profile.html", context)
