"""The roles beyond uploader (everyone): Django groups and the permissions each holds."""

MODERATOR = "moderator"
ADMIN = "admin"

# (app_label, codename) per group; the data migration creates the groups with these.
ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    MODERATOR: [
        ("detection", "view_media"),
        ("detection", "view_detectionjob"),
        ("detection", "view_frameresult"),
        ("detection", "review_media"),
    ],
    ADMIN: [
        ("detection", "view_media"),
        ("detection", "delete_media"),
        ("detection", "view_detectionjob"),
        ("detection", "change_detectionjob"),
        ("detection", "view_frameresult"),
        ("detection", "review_media"),
        ("auth", "view_user"),
        ("auth", "change_user"),
        ("auth", "view_group"),
    ],
}
