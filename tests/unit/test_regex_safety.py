"""Regexes that can backtrack catastrophically are refused when a rule is added or a file is loaded;
ordinary patterns are not (no false alarms), and the check is cheap."""
from __future__ import annotations

import json
import re
import threading
import time

import pytest

from llm_mock import MatchObject, MockServer
from llm_mock.loader import RuleFileError, check_path, load_path
from llm_mock.regex_safety import UnsafeRegex, problem

CATASTROPHIC = [
    r"(a+)+$", r"^(a+)+$", r"(a*)*$", r"(a|aa)*$", r"(a|a)*$", r"(a|a?)+$", r"(a?a)+$", r"(?:a+)+$",
    r"(\w+\s?)+$", r"(\w+\s*)+$", r"(\s*\w+)+$", r"(\d+(\.\d+)?)+$", r"(x+x+)+y", r"(.*,)*$", r"(.*?,)*$",
    r"([a-z]+[0-9]*)+$", r"(?i)(A+)+$", r"((ab)*)+$", r"(\w+_)+$", r"(.+)+$", r"(a+b*)+$", r"(a+|b)+$",
    r"(\d{3}|\d{4})+$", r"(a+){2,100}$", r"(\w+=\w+&?)*$", r"(ż+)+$", r"^(([a-z])+.)+[A-Z]([a-z])+$",
]
ORDINARY = [
    r"hello", r"\bhi\b", r"^echo (.*)$", r"^gpt-4$", r"(\w+\s)+", r"(cat|car)+", r"[a-z]+(,[a-z]+)*",
    r'(?:[^"\\]|\\.)*', r"(\d+\.)+\d+", r"(\w+(\s|$))+", r"(\w|-)+", r"(\w|\d)+", r"(ab|a)*",
    r"(\s*,\s*\w+)*", r"add (\d+) and (\d+)", r"weather in (\w+)", r"^\s*(yes|no)\s*$", r"(\w+\s+){3}",
    r"\d{3}-\d{4}", r"(foo|bar)+", r"(?i)\b(hi|hello|hey)\b", r"[\w.+-]+@[\w-]+\.[\w.]+", r"https?://\S+",
    r"(\d{1,3}\.){3}\d{1,3}", r"(?:\r?\n)+", r"(<[^>]*>)+", r"^\s*$", r"(.*)", r"call (\w+)\((.*)\)",
    r"(?s).*tool.*", r"[^,]+(,[^,]+)*", r"(- .*\n)+", r"((?:\w+ ){2,}\w+)", r"[а-я]+(\s[а-я]+)*",
    r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
    r"(a++)+$", r"(?>a+)+$",  # possessive and atomic: they never give back what they matched
]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_patterns_are_refused(pattern):
    assert problem(re.compile(pattern)) is not None


@pytest.mark.parametrize("pattern", ORDINARY)
def test_ordinary_patterns_pass(pattern):
    assert problem(re.compile(pattern)) is None


def test_a_refused_pattern_really_is_slow():
    """The check is not theory: the first refused pattern takes exponential time on a crafted text."""
    pattern = re.compile(r"(\w+=\w+&?)*$")
    timings = []
    for segments in (10, 14):
        started = time.perf_counter()
        pattern.match("a" + "=aaa" * segments + "!")
        timings.append(time.perf_counter() - started)
    assert timings[1] > 4 * timings[0]


def test_the_check_is_cheap():
    patterns = [re.compile(p + f"(?#{n})") for n, p in enumerate(ORDINARY * 3)]  # distinct: no cache hits
    started = time.perf_counter()
    for pattern in patterns:
        problem(pattern)
    assert (time.perf_counter() - started) / len(patterns) < 0.002


def test_refused_when_a_rule_is_added_naming_the_rule_and_the_pattern():
    server = MockServer()
    for matcher, named in ((re.compile(r"^(a+)+$"), "when(/^(a+)+$/)"),
                           (MatchObject(message=re.compile(r"(a|aa)*"), model="gpt"), "when({message=/(a|aa)*/"),
                           ({"system": re.compile(r"(a*)*", re.I)}, "when({system=/(a*)*/i})")):
        with pytest.raises(UnsafeRegex) as raised:
            server.when(matcher).reply("x")
        message = str(raised.value)
        assert "\n" not in message and message.startswith(named)
        assert "is refused" in message
    assert isinstance(raised.value, ValueError)
    assert server.rule_count == 0
    server.when(re.compile(r"\bhi\b")).reply("fine")
    assert server.rule_count == 1


def test_refused_when_a_file_is_loaded(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"rules": [
        {"when": "hello", "reply": "fine"},
        {"when": "/^(a+)+$/", "reply": "x"},
        {"when": {"message": "/(\\w+\\s?)+$/i"}, "reply": "y"},
    ]}))
    (tmp_path / "b.py").write_text("import re\nrules = [{'when': re.compile(r'(a|aa)+'), 'reply': 'x'}]\n"
                                   "def register(b):\n    b.when(re.compile(r'(x+x+)+y')).reply('z')\n")
    _, problems = check_path(str(tmp_path))
    lines = [str(p) for p in problems]
    assert len(lines) == 4 and all("\n" not in line for line in lines)
    assert lines[0].startswith(f"{tmp_path / 'a.json'}: rule 1: when: regex /^(a+)+$/ is refused")
    assert lines[1].startswith(f"{tmp_path / 'a.json'}: rule 2: when.message: regex /(\\w+\\s?)+$/ is refused")
    assert lines[2].startswith(f"{tmp_path / 'b.py'}: rule 0: when: regex /(a|aa)+/ is refused")
    assert lines[3].startswith(f"{tmp_path / 'b.py'}: register(): raised UnsafeRegex: when(/(x+x+)+y/)")
    with pytest.raises(RuleFileError):
        load_path(str(tmp_path))


def test_the_check_is_thread_safe():
    errors = []

    def run():
        try:
            for pattern in CATASTROPHIC + ORDINARY:
                assert (problem(re.compile(pattern)) is None) == (pattern in ORDINARY)
        except AssertionError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
