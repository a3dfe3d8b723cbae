"""The client's own failures: each carries a message for the person at the terminal."""


class ClientError(Exception):
    """A command that cannot go on or did not succeed (exit status 1); the message says why."""


class ConfigError(ClientError):
    """The configuration is missing something or cannot be read."""


class PushError(ClientError):
    """The push cannot go on."""


class ValidateError(ClientError):
    """Validation could not run (no public phase, engine down, a case file corrupt...)."""
