"""Errors raised by the sandbox.

- `ImageRejected`: the uploaded tarball breaks the image rules; `code` is stable, `message` is a
  human sentence safe to show to the team that uploaded it.
- `SandboxError`: the platform failed (engine down, image load failed, bad call); never the team's
  fault, never counts against a quota. Its subclass `ImageUnrunnable` is the exception: the image
  itself breaks a run-time rule.
- `OutputInvalid`: an output file breaks a rule; `rule` is a short categorical phrase that never
  contains file content, so it is safe to show on hidden phases. `OutputMissing` is the subclass
  for a file that does not exist.
"""


class ImageRejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class SandboxError(Exception):
    pass


class ImageUnrunnable(SandboxError):
    """The image passed intake but breaks a run-time rule (a root alias, a VOLUME over /input):
    the team's fault, reported as `image_invalid` and never retried."""


class OutputInvalid(Exception):
    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


class OutputMissing(OutputInvalid):
    pass
