import pytest
from django.contrib.auth.models import Group, User
from django.core import mail
from django.urls import reverse

from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def test_it_signs_up_and_logs_in(client):
    response = client.post(
        reverse("signup"),
        {"username": "newbie", "email": "newbie@example.com", "password1": TEST_PASSWORD, "password2": TEST_PASSWORD},
    )
    assert response.status_code == 302
    user = User.objects.get(username="newbie")
    assert user.password.startswith("argon2")
    assert client.get(reverse("profile")).status_code == 200


def test_it_logs_in_and_out(client, owner):
    response = client.post(reverse("login"), {"username": "alice", "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("detection:upload")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("detection:history")).status_code == 302
    assert 'id="front-title"' in client.get(reverse("detection:upload")).content.decode()  # the front page


def test_it_changes_password(owner_client, owner):
    response = owner_client.post(
        reverse("password_change"),
        {"old_password": TEST_PASSWORD, "new_password1": "another-long-phrase-77", "new_password2": "another-long-phrase-77"},
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("another-long-phrase-77")


def test_it_sends_a_password_reset_link(client, owner):
    response = client.post(reverse("password_reset"), {"email": "alice@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert "/accounts/password/reset/" in mail.outbox[0].body


def test_profile_shows_roles(owner_client, owner):
    owner.groups.add(Group.objects.get(name="moderator"))
    response = owner_client.get(reverse("profile"))
    assert b"moderator" in response.content


def test_roles_exist_with_permissions():
    moderator = Group.objects.get(name="moderator")
    admin = Group.objects.get(name="admin")
    assert moderator.permissions.filter(codename="review_media").exists()
    assert not moderator.permissions.filter(codename="change_user").exists()
    assert admin.permissions.filter(codename="change_user").exists()


def test_admin_lists_users_with_their_roles(client, owner):
    staff = User.objects.create_superuser("root", "root@example.com", TEST_PASSWORD)
    owner.groups.add(Group.objects.get(name="moderator"))
    client.force_login(staff)
    response = client.get(reverse("admin:auth_user_changelist"))
    assert response.status_code == 200
    assert b"moderator" in response.content
