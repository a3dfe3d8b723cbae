from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import ApiToken, Society, SocietyMembership, Team, TeamMembership, User

admin.site.register(User, UserAdmin)
admin.site.register(Society)
admin.site.register(Team)
admin.site.register(SocietyMembership)
admin.site.register(TeamMembership)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: tokens are created by their users and revoked through the API or the web page."""

    list_display = ["prefix", "name", "user", "created", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["user__username", "name", "prefix"]
    readonly_fields = ["user", "name", "prefix", "key_hash", "created", "expires_at",
                       "last_used_at", "revoked_at"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
