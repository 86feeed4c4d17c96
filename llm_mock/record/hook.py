"""Record and replay in the completion flow: what happens where no rule, or a recorded rule, answered.

The dispatcher asks `Recordings.answer` only when the engine chose no rule (the fallback would
answer) or chose a recorded rule. A miss with recording on and an upstream for the format is
forwarded, relayed to the client as it arrives and saved before the answer ends. Strict replay is
the control plane's strict mode (`resolving.strict_miss`): a miss is its 404, whose report also
names the closest recording and the field that differs (`closest_note`). A recorded rule's answer
to a request whose system prompt or tools changed since is flagged (history, `warning` log) and,
in strict replay, is that miss too. With replay timing, an unedited recording answers
with its exact bytes at its recorded pace. Anything else goes on to the ordinary completion flow.
"""
from __future__ import annotations

import http.client
import os
from typing import Any, Optional

from ..log import shorten
from ..replies import ErrorReply
from ..resolving import strict_miss
from . import extract, proxy, replay
from .recorded import Replayed
from .recording import Recorder
from .scrub import Scrubber

VENDORS = {"openai": "openai", "responses": "openai", "completions": "openai", "embeddings": "openai",
           "anthropic": "anthropic", "gemini": "gemini", "ollama": "ollama"}
"""Format name → the `upstreams` key that serves it, besides the format's own name and transport."""

SESSION_HEADER = "x-llm-mock-session"


class _Broken(Exception):
    """The upstream stopped before the end of its answer: the client's answer ends unfinished too."""


class Recordings:
    """A server's record and replay settings and state: the recorder, the upstreams, replay timing
    and strictness, and the sidecars read so far."""

    def __init__(self, options: Any, log: Any, engine: Any):
        self.log, self.engine = log, engine
        self.scrubber = Scrubber(options.redact or ())
        self.upstreams = {name: proxy.Upstream(url) for name, url in (options.upstreams or {}).items() if url}
        self.default = proxy.Upstream(options.upstream) if options.upstream else None
        if options.record and self.default is None and not self.upstreams:
            raise ValueError("recording needs an upstream to forward to: --upstream URL "
                             "(or --upstream-openai / -anthropic / -gemini / -ollama)")
        if (self.default is not None or self.upstreams) and not options.record:
            raise ValueError("an upstream is only used when recording: add --record DIR")
        self.recorder = Recorder(options.record, self.scrubber) if options.record else None
        self.timing = replay.parse_timing(options.replay_timing)
        if options.replay not in (None, "strict", "lenient"):
            raise ValueError(f"replay must be `strict` or `lenient`, not {options.replay!r}")
        self.strict = options.replay == "strict"
        self.sidecars = replay.Sidecars()

    def upstream_for(self, adapter: Any) -> Optional[proxy.Upstream]:
        """The format's upstream. A cloud transport (Azure, Bedrock, Vertex) has its own or the
        default: its paths mean nothing to the vendor's own API."""
        keys = (adapter.transport,) if adapter.transport else (adapter.name, VENDORS.get(adapter.name))
        for key in keys:
            if key and key in self.upstreams:
                return self.upstreams[key]
        return self.default

    # -- the hook --------------------------------------------------------------------------
    def answer(self, out: Any, adapter: Any, call: Any, request: Any, resolution: Any, request_id: str,
               entry: Any) -> bool:
        """Answer the request if record or replay has something to do with it; False leaves it to
        the ordinary completion flow."""
        reply = resolution.reply
        if isinstance(reply, Replayed):
            return self._replayed(out, adapter, call, request, reply, request_id, entry)
        upstream = self.upstream_for(adapter) if self.recorder is not None else None
        if upstream is not None:
            self._record(out, adapter, call, request, upstream, request_id, entry)
            return True
        return False

    def _replayed(self, out: Any, adapter: Any, call: Any, request: Any, reply: Replayed, request_id: str,
                  entry: Any) -> bool:
        step = reply.step
        if reply.stale:
            note = f"recorded with a different {reply.stale}"
            entry.flags = (*entry.flags, f"stale: {note}")
            self.log.warning(f'"{shorten(request.last_message)}" answered by recording {step.exchange} '
                             f"({os.path.basename(step.source)}), {note}")
            if self.strict:
                step.replayed -= 1  # not a replay: the recording does not count as used
                self._stale_miss(out, adapter, call, request, step, note, request_id, entry)
                return True
        factor = self.timing
        if factor is None and request.format not in extract.EXTRACTORS:
            factor = float("inf")  # nothing could read the answer into the rule: the sidecar says it, at once
        if factor is None:
            return False
        exchange = self.sidecars.exchange(step.sidecar, step.exchange)
        if exchange is None or not replay.as_recorded(step, exchange, request):
            self.log.debug(f"recording {step.exchange}: rendered from its rule (no exact answer for this request)")
            return False
        replay.send_recorded(out, exchange, factor, call.app.pacer, f"replayed {step.exchange}")
        return True

    def _stale_miss(self, out: Any, adapter: Any, call: Any, request: Any, step: Any, note: str, request_id: str,
                    entry: Any) -> None:
        """Strict replay: a recording that matches but was recorded with another system prompt or
        tool set is a miss, answered with the strict-mode 404."""
        scope = call.app.sessions.get(call.session) if call.session else None
        entry.rule = None
        resolution = strict_miss(call.app, request, entry, scope,
                                 f"Recording {step.exchange} ({os.path.basename(step.source)}) matches but was "
                                 f"{note}: in strict replay that is a miss.")
        entry.reply = resolution.reply
        assert resolution.reply.error is not None
        self.log.warning(resolution.reply.error.message)
        out.send_error(adapter, resolution.reply.error, request_id, resolution.outcome or "unmatched")

    def closest_note(self, request: Any, rules: list) -> Optional[str]:
        """For a strict miss: the recorded rule closest to `request` and what differs, or None when
        no recordings are loaded."""
        found = replay.closest(request, rules)
        if found is None:
            return None
        rule, fields = found
        where = f"{rule.ids[0]} in {os.path.basename(rule.source)}" if rule.ids else rule.description
        return (f"Closest recording: {where}; differs in "
                f"{'; '.join(fields) if fields else 'nothing it checks (it was used up)'}.")

    # -- recording -------------------------------------------------------------------------
    def _record(self, out: Any, adapter: Any, call: Any, request: Any, upstream: proxy.Upstream,
                request_id: str, entry: Any) -> None:
        assert self.recorder is not None
        session = call.headers.get(SESSION_HEADER)
        try:
            exchange = proxy.forward(upstream, call.method, call.target, list(call.headers.items()), call.body)
        except (OSError, http.client.HTTPException) as exc:
            message = f"llm_mock could not reach the upstream {self.scrubber.target(str(upstream))}: {exc}"
            self.log.error(message)
            out.send_error(adapter, ErrorReply(502, message, "api_error"), request_id, "upstream unreachable")
            return
        try:
            if not exchange.incremental:
                body = b"".join(exchange.pieces())
                if exchange.broken is not None:
                    out.send_error(adapter, ErrorReply(502, f"llm_mock: the upstream broke off its answer: "
                                                            f"{exchange.broken}", "api_error"),
                                   request_id, "upstream broke off")
                    return
                outcome = self._save(request, exchange, upstream, session)
                out.send(exchange.status, exchange.relayed_headers(), body, outcome)
                return
            out.publish(exchange.status, "proxied")

            def before_end() -> None:
                if exchange.broken is not None:
                    raise _Broken()
                out.publish(exchange.status, self._save(request, exchange, upstream, session))

            try:
                out.relay(exchange.status, exchange.relayed_headers(), exchange.pieces(), before_end)
            except _Broken:
                self.log.warning(f"the upstream broke off its stream ({exchange.broken}); nothing recorded")
                out.publish(exchange.status, "upstream broke off")
                out.end_connection("close")
        finally:
            exchange.close()

    def _save(self, request: Any, exchange: proxy.Exchange, upstream: proxy.Upstream,
              session: Optional[str]) -> str:
        """Save the exchange; the outcome to record (a failure to write is logged, never the client's)."""
        assert self.recorder is not None
        try:
            exchange_id = self.recorder.save(request, exchange, str(upstream), session)
        except OSError as exc:
            self.log.error(f"could not write the recording in {self.recorder.directory}: {exc}")
            return "proxied"
        self.log.info(f"recorded {exchange_id}: {exchange.method} {exchange.target} -> {exchange.status}")
        return f"recorded {exchange_id}"

    # -- what the recordings say --------------------------------------------------------------
    def unused(self) -> list:
        """(exchange id, rule file) of each loaded recording no request replayed yet."""
        return replay.unused(self.engine.snapshot())

    def summary(self) -> Optional[str]:
        """The line printed at exit: every recording replayed, or those that were not."""
        return replay.summary(self.engine.snapshot())

    def done(self) -> dict:
        """What `GET /__llm_mock/done` answers: whether every rule and recording was used, and the
        recordings that were not."""
        return {"done": self.engine.is_done(),
                "unused_recordings": [{"id": exchange, "file": source} for exchange, source in self.unused()]}
