"""Record and replay: misses forwarded to a real API and saved as editable rules, secrets scrubbed,
replayed later as ordinary rules (or byte for byte at the recorded pace).

    hook.py       Recordings: what the dispatcher asks on a miss or a recorded rule's answer
    proxy.py      forwarding with http.client, the answer relayed as it arrives, frames and timing
    recording.py  the recorder: per-session rule file (JSON5 or JSON) and sidecar of exact answers
    extract.py    per-format readers: an answer (JSON or stream) as a rule's reply
    dialects.py   the readers of Gemini, Ollama, OpenAI embeddings and legacy completions
    scrub.py      what never reaches the disk: credential headers, key shapes, --redact patterns
    recorded.py   RecordedRule / RecordedReply: recorded rules as the loader builds them; staleness
    replay.py     replay timing from the sidecar, strict-replay misses explained, unused recordings
"""
from __future__ import annotations

from . import dialects  # noqa: F401  (registers its readers)
from .extract import Extractor, register
from .hook import Recordings
from .scrub import MARKER, Scrubber

__all__ = ["MARKER", "Extractor", "Recordings", "Scrubber", "register"]
