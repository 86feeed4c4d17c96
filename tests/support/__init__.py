"""The helpers every test folder shares (imported as `support.<module>`; tests/conftest.py puts
tests/ on the import path).

- `files`: where the fixtures, the JavaScript probe and the repository are; writers for test files
- `sse`: the one parser of server-sent event streams
- `raw_http`: raw HTTP and sockets for what the SDKs hide (bytes, headers, broken requests), polling
- `clients`: the official SDK clients, strictly validating, and a one-call chat request
- `scenarios`: the replies every wire format is checked with and what each must render to; id shapes
- `faults`: what the fault tests share: the reply they cut, each SDK's stream of it, its text
- `fuzz_corpus`: valid request bodies and the seeded mutator that breaks them
- `generation_probe`: run as a script in the older SDKs' virtualenv (standard library only at import)

Importing this package imports nothing else, so `generation_probe` stays importable without the SDKs.
"""
