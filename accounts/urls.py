from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import views

FORM = "registration/form.html"
MESSAGE = "registration/message.html"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("profile/", views.profile, name="profile"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="registration/login.html"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/change/",
        auth_views.PasswordChangeView.as_view(
            template_name=FORM, extra_context={"title": "Change password", "submit": "Change password"}
        ),
        name="password_change",
    ),
    path(
        "password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name=MESSAGE, extra_context={"title": "Password changed", "message": "Your password was changed."}
        ),
        name="password_change_done",
    ),
    path(
        "password/reset/",
        auth_views.PasswordResetView.as_view(
            template_name=FORM,
            extra_context={"title": "Reset password", "submit": "Send reset link"},
            success_url=reverse_lazy("password_reset_done"),
        ),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(
            template_name=MESSAGE,
            extra_context={
                "title": "Check your e-mail",
                "message": "If an account has that address, a link to reset its password is on its way.",
            },
        ),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name=FORM, extra_context={"title": "Choose a new password", "submit": "Set password"}
        ),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name=MESSAGE,
            extra_context={"title": "Password set", "message": "Your new password is set. You can log in now."},
        ),
        name="password_reset_complete",
    ),
]
