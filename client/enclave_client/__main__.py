"""`python -m enclave_client ...` is the `enclave` command."""

from enclave_client.cli import main

raise SystemExit(main())
