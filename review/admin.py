"""Operators withdraw a declared conflict of interest here (physicians can only declare one)."""

from django.contrib import admin

from review.models import ConflictOfInterest


@admin.register(ConflictOfInterest)
class ConflictOfInterestAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("user", "team", "note", "created")
    search_fields = ("user__username", "team__slug")
    readonly_fields = ("created",)
