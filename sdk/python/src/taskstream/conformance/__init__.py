"""The Python conformance worker of tests/conformance/SPEC.md: ``python -m taskstream.conformance``."""
