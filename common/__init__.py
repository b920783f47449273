"""What every pixbench entry point shares: the CLI rules (one-line errors, exit codes, overrides),
atomic writes and hashes, provenance, device choice, the typed run config and the results layout.

Kept free of torch at import time so `--help` and bad-input errors stay fast.
"""
