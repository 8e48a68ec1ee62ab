"""Moderation permissions each role holds (added to the groups accounts/migrations/0001_roles.py made)."""

ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    "moderator": [("moderation", "view_moderationitem"), ("moderation", "view_auditentry")],
    "admin": [("moderation", "view_moderationitem"), ("moderation", "view_auditentry")],
}
