"""Query-string serializers that mean what the OpenAPI schema says.

DRF reads a blank query parameter (`?status=`) of a form-style input as "not given", so a
parameter whose schema is an enum or a pattern would accept a value outside it. A
`QuerySerializer` refuses blank values of its parameters instead (400, like any other value
the schema does not allow)."""

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers


class QuerySerializer(serializers.Serializer):
    def to_internal_value(self, data: Any) -> Any:
        names: list[str] = list(self.fields.keys())
        blank = [name for name in names if hasattr(data, "getlist")
                 and any(value == "" for value in data.getlist(name))]
        if blank:
            raise serializers.ValidationError(
                {name: [_("Give a value or leave the parameter out.")] for name in blank})
        return super().to_internal_value(data)
