from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import Society, SocietyMembership, Team, TeamMembership, User

admin.site.register(User, UserAdmin)
admin.site.register(Society)
admin.site.register(Team)
admin.site.register(SocietyMembership)
admin.site.register(TeamMembership)
