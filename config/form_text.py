"""Form problems as one line of text, for the web pages' messages."""

from django.forms import Form


def form_errors(form: Form) -> str:
    """Every problem of an invalid form, each with the label of its field."""
    return " ".join(f"{form.fields[name].label}: {error}" if name in form.fields else str(error)
                    for name, errors in form.errors.items() for error in errors)
