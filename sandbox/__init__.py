"""Sandbox: validate algorithm image tarballs and run an image once on a directory of inputs.

Knows nothing about challenges. Public pieces: `intake.inspect_image_tarball`,
`limits.RunLimits`, `backends.get_backend()` (a `SandboxBackend`), `outputs.read_json_output`
and the errors in `errors`.
"""
