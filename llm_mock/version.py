"""The version of llm_mock, written here once: the package, the CLI and the packaging metadata read it."""

__version__ = "0.1.0"
