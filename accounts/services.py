"""Writes of accounts: creating an uploader."""
from django.contrib.auth.models import User


def user_create(*, username: str, email: str, password: str) -> User:
    """A new uploader. Roles (moderator, admin) are given by an admin in Django admin."""
    return User.objects.create_user(username=username, email=email, password=password)
