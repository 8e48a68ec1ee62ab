"""Admin for users: the role each holds (its groups; a superuser says so) beside the usual columns."""
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import User

admin.site.unregister(User)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "roles", "is_staff", "is_active", "date_joined")
    list_filter = ("groups", "is_staff", "is_superuser", "is_active")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="Roles")
    def roles(self, user: User) -> str:
        """A superuser holds every permission whatever its groups: it reads "superuser", never "uploader"."""
        roles = sorted(group.name for group in user.groups.all())
        if user.is_superuser:
            roles.insert(0, "superuser")
        return ", ".join(roles) or "uploader"
