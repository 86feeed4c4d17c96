"""The command line: `llm-mock [start] [options]`, `llm-mock init`, `llm-mock validate PATH`.

Errors are one line on stderr and a non-zero exit (1 for a failure, 2 for a bad command line),
never a traceback.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
from dataclasses import replace
from typing import Any, Optional

from . import formats
from .loader import RuleFileError, check_path
from .log import LEVELS
from .server import MockServer, MockServerOptions
from .version import __version__

PROG = "llm-mock"
SCRIPTS = ("llm-mock", "llm-mock-server")  # the console scripts an install of llm-mock-server provides
COMMANDS = ("start", "init", "validate")
VENDORS = ("openai", "anthropic", "gemini", "ollama", "azure", "bedrock", "vertex")  # --upstream-<vendor>


class CliError(Exception):
    """A problem to report in one line, with the exit code to leave with."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of argparse's usage block
        raise CliError(f"{message} (see {self.prog} --help)", 2)


def main(argv: Optional[list] = None) -> int:
    """Run the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS + ("-h", "--help", "--version"):
        argv.insert(0, "start")  # `start` is the default command
    try:
        args = _parser().parse_args(argv)
        return {"start": start, "init": init, "validate": validate}[args.command](args)
    except CliError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="A mock OpenAI and Anthropic API server for tests.")
    parser.add_argument("--version", action="version", version=f"llm_mock {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{start,init,validate}")
    run = commands.add_parser("start", help="serve (the default command)",
                              description="Serve the mock API. Command line > config.json > defaults.")
    option = run.add_argument
    option("--config", metavar="FILE", help="JSON config file (default ./config.json; it may be missing)")
    option("-p", "--port", type=_port, metavar="N", help="port to listen on, 0 for a free one (default 0)")
    option("-H", "--host", type=_host, metavar="ADDRESS", help="address to bind (default 127.0.0.1)")
    option("-r", "--rules", metavar="PATH", help="rule file or directory (.json5, .json, .py)")
    option("-l", "--latency", type=_count("latency"), metavar="MS", help="milliseconds between SSE events (default 0)")
    option("-c", "--chunk-size", type=_count("chunk size"), metavar="CHARS",
           help="characters per text chunk (default 0: the whole text)")
    option("-f", "--fallback", metavar="TEXT", help="reply when no rule matches (a rule file's fallback wins)")
    option("-w", "--watch", action=argparse.BooleanOptionalAction, default=None,
           help="reload the rules when their files change")
    option("--log-level", choices=list(LEVELS), metavar="LEVEL",
           help="none, error, warning, info, debug or all (default: only the server's own problems)")
    option("--cors", action=argparse.BooleanOptionalAction, default=None,
           help="let browser pages on other origins call the server (CORS headers; default off)")
    option("--admin", action=argparse.BooleanOptionalAction, default=None,
           help="the admin API under /__llm_mock/ (default on; --no-admin turns it off)")
    option("--admin-token", metavar="TOKEN",
           help="require Authorization: Bearer TOKEN on admin routes (default: $LLM_MOCK_ADMIN_TOKEN); "
                "needed to serve the admin API beyond loopback")
    option("--strict", action=argparse.BooleanOptionalAction, default=None,
           help="answer an unmatched request with a 404 naming its near misses instead of the fallback")
    option("--record", metavar="DIR", help="forward requests no rule matches to the upstream; save them in DIR")
    option("--upstream", metavar="URL", help="where --record forwards (e.g. https://api.openai.com)")
    for vendor in VENDORS:
        option(f"--upstream-{vendor}", metavar="URL", help=f"where --record forwards {vendor} requests")
    option("--redact", action="append", metavar="REGEX", help="also scrub REGEX from recordings (repeatable)")
    option("--replay-timing", metavar="recorded|FACTOR",
           help="answer recordings with their exact bytes at the recorded pace (or FACTOR times faster)")
    option("--replay", choices=("strict", "lenient"),
           help="strict: strict mode (a miss is a 404 naming the closest rules and recording), and a stale "
                "recording is a miss")
    setup = commands.add_parser("init", help="write a demo config.json and rules.json5",
                                description="Write config.json and rules.json5 (15 commented demo rules); "
                                            "rules.json, without the comments, where json5 is not installed.")
    setup.add_argument("-d", "--dir", default=".", metavar="DIR", help="where to write them (default: here)")
    setup.add_argument("--force", action="store_true", help="overwrite existing files")
    check = commands.add_parser("validate", help="check rule files without serving",
                                description="Load rule files as `start` would and report every problem.")
    check.add_argument("paths", nargs="+", metavar="PATH", help="rule file or directory")
    return parser


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: use 0-65535 (0 picks a free port)")
    return int(text)


def _host(text: str) -> str:
    if not text.strip() or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"invalid host {text!r}")
    return text


def _count(what: str):
    def parse(text: str) -> int:
        if not text.isdigit():
            raise argparse.ArgumentTypeError(f"invalid {what} {text!r}: use a whole number, 0 or more")
        return int(text)
    return parse


# -- start ----------------------------------------------------------------------------------------
SWITCH_INTERVAL = 0.05  # seconds; the interpreter's default is 0.005


def serving_process() -> None:
    """Settings for a process that does nothing but serve (the CLI's own, never a test process that
    embeds `MockServer`): a longer switch interval. Connection threads mostly wait on sockets and
    let go of the interpreter there; forced hand-offs every 5 ms among hundreds of threads only
    add wake-ups (a thousand paced streams: ~20% less CPU, time to first byte p99 halved)."""
    sys.setswitchinterval(SWITCH_INTERVAL)


def start(args) -> int:
    options = server_options(args)
    serving_process()
    try:
        server = MockServer(options)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if options.rules:
        try:
            server.load(options.rules)
        except RuleFileError as failure:
            for problem in failure.problems:
                print(f"{PROG}: error: {problem}", file=sys.stderr)
            return 1
    watch = options.rules if options.watch else None
    previous = signal.signal(signal.SIGTERM, _interrupt)  # until run_until_shutdown installs its own
    try:
        try:
            server.start()
        except OSError as exc:
            raise CliError(f"cannot listen on {options.host}:{options.port}: {exc.strerror or exc}") from None
        print(banner(server, watch is not None), flush=True)
        warning = exposure(server)
        if warning:
            print(f"{PROG}: warning: {warning}", file=sys.stderr, flush=True)
        server.run_until_shutdown(watch)
    except KeyboardInterrupt:  # Ctrl+C or SIGTERM before run_until_shutdown took over: still a clean stop
        server.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
    summary = server.recordings.summary()  # recordings never replayed, if any were loaded
    if summary:
        print(summary, flush=True)
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def server_options(args) -> MockServerOptions:
    """config.json (if any) with the command line's options laid over it, checked (`config.py`)."""
    path = args.config or "config.json"
    try:
        if os.path.exists(path):
            options = MockServerOptions.from_json_file(path)
        elif args.config:
            raise CliError(f"config file not found: {path}")
        else:
            options = MockServerOptions()
        given = {"port": args.port, "host": args.host, "rules": args.rules, "default_latency": args.latency,
                 "default_chunk_size": args.chunk_size, "fallback": args.fallback, "watch": args.watch,
                 "log_level": args.log_level, "cors": args.cors, "admin": args.admin, "strict": args.strict,
                 "admin_token": args.admin_token or os.environ.get("LLM_MOCK_ADMIN_TOKEN") or None,
                 "record": args.record, "upstream": args.upstream, "replay_timing": _timing(args.replay_timing),
                 "replay": args.replay}
        options = replace(options, **{key: value for key, value in given.items() if value is not None})
        upstreams = {vendor: getattr(args, f"upstream_{vendor}") for vendor in VENDORS
                     if getattr(args, f"upstream_{vendor}") is not None}
        if upstreams:
            options = replace(options, upstreams={**options.upstreams, **upstreams})
        if args.redact:
            options = replace(options, redact=[*options.redact, *args.redact])
        if args.watch and not options.rules:
            raise CliError("--watch needs rules to watch: -r PATH, or `rules` in config.json")
        options.check_watch(path)
    except (RuntimeError, ValueError) as exc:
        raise CliError(str(exc)) from None
    return options


def _timing(text: Optional[str]) -> Any:
    """`--replay-timing`: `recorded`, or a speed factor given as a number."""
    try:
        return float(text) if text is not None and text != "recorded" else text
    except ValueError:
        return text
def _transports() -> str:
    """`, also over azure, bedrock` …: the clouds that carry the formats on their own routes."""
    names = list(dict.fromkeys(adapter.transport for adapter in formats.ADAPTERS if adapter.transport))
    return f" (also over {', '.join(names)})" if names else ""


def _endpoints(paths: list, shown: int = 5) -> str:
    """The first completion routes, and how many more `server.routes` lists."""
    more = f", and {len(paths) - shown} more (server.routes lists them)" if len(paths) > shown else ""
    return ", ".join(paths[:shown]) + more


def banner(server: MockServer, watching: bool) -> str:
    """What `start` prints once listening: the URL (with the real port), the rules, the endpoints."""
    o = server.options
    rules = f"{server.rule_count} loaded from {o.rules}" if o.rules else "none (every request gets the fallback)"
    lines = [f"llm_mock {__version__} listening on {_listening(server)}",
             f"  Rules      {rules}{', watching for changes' if watching else ''}",
             f"  Formats    {', '.join(formats.names())}{_transports()}",
             f"  Endpoints  POST {_endpoints(formats.completion_paths())}"]
    recordings = server.recordings if server.records else None
    if recordings is not None and recordings.recorder is not None:
        targets = ", ".join(([str(recordings.default)] if recordings.default else []) +
                            [f"{name}: {url}" for name, url in recordings.upstreams.items()])
        lines.append(f"  Recording  misses to {recordings.recorder.directory}, forwarded to {targets}")
    if recordings is not None and (recordings.strict or recordings.timing):
        timing = f"recorded timing ×{recordings.timing:g}" if recordings.timing else "rendered from the rules"
        lines.append(f"  Replay     {'strict, ' if recordings.strict else ''}{timing}")
    if o.default_latency or o.default_chunk_size:
        lines.append(f"  Streaming  {o.default_latency:g} ms between events, "
                     f"{o.default_chunk_size or 'whole text'} characters per chunk")
    if o.admin:
        lines.append(f"  Admin      {server.url}/__llm_mock/{' (Bearer token required)' if o.admin_token else ''}")
    if o.strict:
        lines.append("  Strict     an unmatched request gets a 404 naming the closest rules")
    lines += [f'  OpenAI     base_url="{server.url}/v1"',
              f'  Anthropic  base_url="{server.url}"',
              f"  Gemini     GOOGLE_GEMINI_BASE_URL={server.url}",
              f"  Ollama     OLLAMA_HOST={server.url}",
              "  Ctrl+C to stop"]
    return "\n".join(lines)


def _listening(server: MockServer) -> str:
    """The address bound, and a URL a client on this machine can use when that is another one."""
    host, port = server.bound_address
    bound = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    address = None if bound == server.url else _address(host)
    if address is None or address.is_loopback:
        return bound
    return f"{bound} ({'all interfaces; ' if address.is_unspecified else ''}on this machine: {server.url})"


def exposure(server: MockServer) -> Optional[str]:
    """One line of warning when the server is reachable from other machines (a non-loopback bind)."""
    host, port = server.bound_address
    address = None if host in _LOCAL else _address(host)
    if host in _LOCAL or (address is not None and address.is_loopback):
        return None
    where = "every network interface" if address is not None and address.is_unspecified else host
    return (f"listening on {where} (port {port}): anyone who can reach this machine can use the server, with any "
            "API key; use --host 127.0.0.1 to keep it local")


_LOCAL = ("127.0.0.1", "::1")  # the usual loopback binds, known without loading `ipaddress`


def _address(host: str) -> Any:
    """`host` as an IP address (a scope id dropped), None for a name. `ipaddress` is loaded here, for
    a bind other than the usual loopback ones: a default start does without it."""
    import ipaddress

    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


# -- init -----------------------------------------------------------------------------------------
def init(args) -> int:
    rules = "rules.json5" if _json5_available() else "rules.json"
    names = ("config.json", rules)
    existing = [os.path.join(args.dir, name) for name in names if os.path.exists(os.path.join(args.dir, name))]
    if existing and not args.force:
        raise CliError(f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                       "use --force to overwrite")
    from importlib import resources  # here: only `init` reads package files

    demo = resources.files("llm_mock") / "demo"
    config = (demo / "config.json").read_bytes()
    if rules == "rules.json":  # the same rules as plain JSON, and the config pointing at them
        config = config.replace(b'"./rules.json5"', b'"./rules.json"')
    contents = {"config.json": config, rules: (demo / rules).read_bytes()}
    try:
        os.makedirs(args.dir, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create {args.dir}: {exc.strerror or exc}") from None
    for name in names:
        target = os.path.join(args.dir, name)
        try:
            with open(target, "wb") as handle:
                handle.write(contents[name])
        except OSError as exc:
            raise CliError(f"cannot write {target}: {exc.strerror or exc}") from None
        note = (" (plain JSON, without the comments: the json5 package is not installed here; "
                "after `pip install json5`, `init` writes the commented rules.json5)") if name == "rules.json" else ""
        print(f"wrote {target}{note}")
    command, installed = start_command()
    here = os.path.abspath(args.dir) == os.path.abspath(os.curdir)
    import shlex

    start = f"{command} start" + ("" if here else f" --config {shlex.quote(os.path.join(args.dir, 'config.json'))}")
    print(f"\nNext: {start}\n"
          f"then send a message containing hi, echo ..., joke, weather, step or once.")
    if not installed:
        print("(`pip install llm-mock-server` gives the shorter `llm-mock start`.)")
    return 0


def _json5_available() -> bool:
    try:
        import json5  # noqa: F401  (only whether it imports)
    except ImportError:
        return False
    return True


def start_command() -> tuple:
    """The command that starts the server from here, and whether it is an installed script.

    `llm-mock` when this installation's script is on PATH, its full path when it is installed in a
    folder PATH lacks; otherwise (a vendored copy) `python -m llm_mock` spelled with this interpreter
    (its bare name when PATH finds this very interpreter under it).
    """
    import shlex
    import sysconfig  # only `init` asks where scripts go

    scripts = sysconfig.get_path("scripts")
    for name in SCRIPTS:
        found = shutil.which(name)
        if found and scripts and os.path.dirname(os.path.realpath(found)) == os.path.realpath(scripts):
            return name, True
    for name in SCRIPTS:
        found = shutil.which(os.path.join(scripts, name)) if scripts else None
        if found:
            return shlex.quote(found), True
    python = sys.executable or "python3"
    bare = os.path.basename(python)
    on_path = shutil.which(bare)
    if on_path and os.path.abspath(on_path) == os.path.abspath(python):
        python = bare
    return f"{shlex.quote(python)} -m llm_mock", False


# -- validate -------------------------------------------------------------------------------------
def validate(args) -> int:
    """Load each path as `start` would; print every problem as file: rule N: field: reason."""
    files = rules = failures = 0
    for path in args.paths:
        loaded, problems = check_path(path)
        for file, count in loaded.files:
            print(f"ok     {file}: {count} rule(s)")
        for problem in problems:
            print(f"error  {problem}")
        if not loaded.files and not problems:
            print(f"note   {path}: no rule files (.json5, .json, .py) found")
        files += len(loaded.files)
        rules += sum(count for _, count in loaded.files)
        failures += len(problems)
    if failures:
        print(f"{failures} problem(s) found")
        return 1
    print(f"all good: {rules} rule(s) in {files} file(s)")
    return 0
