"""Request rates per user (whatever the auth) and per token; rates come from settings at request time."""
from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from .models import ApiToken


class _SettingsRateThrottle(SimpleRateThrottle):
    setting = ""

    def get_rate(self):
        # Read on each request (not at import, as DRF does), so settings changed in tests apply.
        return getattr(settings, self.setting)


class PerUserThrottle(_SettingsRateThrottle):
    scope = "api_user"
    setting = "API_THROTTLE_USER"

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class PerTokenThrottle(_SettingsRateThrottle):
    scope = "api_token"
    setting = "API_THROTTLE_TOKEN"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
