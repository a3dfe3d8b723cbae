"""Enclave participant client: push images, submit, follow results, validate locally.

It speaks only the REST API of an Enclave server (`enclave_client.api.Api`) and, for `push` and
`validate`, the local docker engine. The command line lives in `enclave_client.cli`.
"""

__version__ = "0.1.0"
