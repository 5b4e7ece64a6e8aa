"""Bot rule: one matcher compiled once from maintained bot lists, answering *why* a user agent is a bot.

Sources, in the order a reason is chosen when several match:
1. `crawler-user-agents` (the package's JSON of regex patterns, MIT, updated monthly);
2. Matomo device-detector's `bots.yml` (vendored in `data/matomo-bots.yml`, LGPL-3.0, see `data/README.md`),
   then its HTTP libraries and feed readers (`data/matomo-libraries.yml`, `data/matomo-feed-readers.yml`):
   Matomo files those as clients, not bots, but for counting visitors they are programs, not people;
3. pulse's own tokens, only for what those two miss (`PULSE_BOT_TOKENS`, docs/bots.md says why each).
ua-parser's "Spider" device is checked by the user-agent enricher after this matcher (it needs the parse).

A Python alternation of ~2,300 regexes costs ~0.2 s per string (the engine tries every branch at every
position), so the matcher is a literal prefilter: every pattern's required literals (read from the
regex's parse tree) go into one Aho-Corasick automaton; a user agent runs only the few regexes whose
literals occur in it, plus the handful of patterns that have no literal of three characters or more.
"""

from __future__ import annotations

import json
import re
import re._constants as sre_constants
import re._parser as sre_parser
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from typing import Any

import ahocorasick_rs
import yaml

__all__ = [
    "CRAWLER_USER_AGENTS",
    "DROPPED_PATTERNS",
    "MATOMO",
    "PULSE",
    "PULSE_BOT_TOKENS",
    "UA_PARSER_SPIDER",
    "BotMatcher",
    "BotPattern",
    "data_versions",
    "default_bot_matcher",
    "load_bot_patterns",
]

CRAWLER_USER_AGENTS = "crawler-user-agents"
MATOMO = "matomo"
MATOMO_LIBRARY = "matomo-library"
MATOMO_FEED_READER = "matomo-feed-reader"
PULSE = "pulse"
# The vendored Matomo device-detector lists (data/), in priority order, with the source each reason names.
_MATOMO_LISTS = (
    (MATOMO, "matomo-bots.yml"),
    (MATOMO_LIBRARY, "matomo-libraries.yml"),
    (MATOMO_FEED_READER, "matomo-feed-readers.yml"),
)
UA_PARSER_SPIDER = "ua-parser:Spider"
MATOMO_BOTS_VERSION = "6.5.1"
"""The device-detector release `data/matomo-bots.yml` was taken from (scripts/update_bots.sh records it)."""
MAX_REASON_LENGTH = 96
# Matomo wraps every bot regex in this boundary (its Parser: a match may not start inside a word).
_MATOMO_BOUNDARY = r"(?:^|[^A-Z0-9_-]|[^A-Z0-9-]_|sprd-|MZ-)(?:{})"
# Shortest literal worth a prefilter entry: shorter ones ("go", "ia") occur in nearly every agent.
_MIN_LITERAL = 3
_MAX_EXACT = 32
_ALTERNATION_LOOKBEHIND = re.compile(r"\(\?<!((?:[^()|]+\|)+[^()|]+)\)")

# What neither list matches (tests/unit/enrich/test_bots.py checks each is still needed), all from
# pulse's rule before issue 14; docs/bots.md gives the reason for each. Case-insensitive regexes.
PULSE_BOT_TOKENS: dict[str, str] = {
    "preview": r"preview",  # link previewers that name no product ("Link Preview Service")
    "+http": r"\+https?://",  # the contact URL well-behaved robots carry ("+https://example.com/robot")
}

# Source patterns pulse drops because they match real people's browsers (docs/bots.md): the reason
# they would give, and why it is wrong. Their bots are still caught by the other source or by a longer name.
DROPPED_PATTERNS: dict[str, str] = {
    "crawler-user-agents:AP3A.240617.008": "an Android build id: every phone on that build (CPH2557, PKC110)",
    "crawler-user-agents:MetaIAB Facebook": "Meta's in-app browser (a person tapping a link in Facebook)",
    "crawler-user-agents:Sonic": "ViewSonic and Panasonic phones (Sonic's own crawler is unheard of)",
    "crawler-user-agents:Sogou": "the Sogou mobile browser; Sogou's spiders are matched by Matomo's list",
    "crawler-user-agents:Viber": "Viber's in-app browser",
    "matomo-library:Apple Core Media": "Apple's media framework: people playing video and audio on Apple devices",
    "matomo-library:LibHTTP": "the PlayStation's system HTTP stack, used by its media apps",
    "matomo-library:MatomoTracker": "Matomo's tracking SDK: the analytics of people using an app",
}


@dataclass(frozen=True, slots=True)
class BotPattern:
    """One bot rule: where it comes from, its name in that source, and its regex."""

    source: str
    name: str
    regex: str
    ignore_case: bool = True
    """crawler-user-agents' patterns are written case-sensitive ("Sonic" the bot, not ViewSonic)."""

    @property
    def reason(self) -> str:
        """`source:name`, the value stored in `dim_user_agent.bot_reason`."""
        return f"{self.source}:{self.name}"[:MAX_REASON_LENGTH]


class BotMatcher:
    """Finds the first bot pattern that matches a user agent; built once, thread-safe, no per-call state."""

    def __init__(self, patterns: Sequence[BotPattern]) -> None:
        """Compile `patterns` (about 0.5 s for the bundled lists); invalid regexes raise `re.error`."""
        self._patterns = tuple(patterns)
        self._regexes = [
            re.compile(_python_regex(p.regex), re.IGNORECASE if p.ignore_case else 0) for p in self._patterns
        ]
        literal_owners: dict[str, list[int]] = {}
        always: list[int] = []
        for index, pattern in enumerate(self._patterns):
            literals = required_literals(_python_regex(pattern.regex))
            if literals is None:
                always.append(index)
                continue
            for literal in literals:
                literal_owners.setdefault(literal, []).append(index)
        self._literals = list(literal_owners)
        self._owners = [tuple(literal_owners[literal]) for literal in self._literals]
        self._always = tuple(always)
        self._automaton = ahocorasick_rs.AhoCorasick(self._literals)

    @property
    def patterns(self) -> tuple[BotPattern, ...]:
        """The patterns, in priority order."""
        return self._patterns

    @property
    def unfiltered_count(self) -> int:
        """How many patterns have no literal to prefilter on (they run on every user agent)."""
        return len(self._always)

    def match(self, user_agent: str) -> BotPattern | None:
        """The first pattern (in source order) that matches `user_agent`, or None."""
        candidates = set(self._always)
        for literal_index in self._automaton.find_matches_as_indexes(user_agent.lower(), overlapping=True):
            candidates.update(self._owners[literal_index[0]])
        for index in sorted(candidates):
            if self._regexes[index].search(user_agent):
                return self._patterns[index]
        return None


def required_literals(pattern: str) -> frozenset[str] | None:
    """Lower-case strings of which at least one occurs in every match of `pattern`, or None if unknown."""
    found = _required(sre_parser.parse(pattern, re.IGNORECASE))
    if found is None or min(map(len, found)) < _MIN_LITERAL:
        return None
    return frozenset(found)


def _required(items: Iterable[tuple[Any, Any]]) -> set[str] | None:
    """Walk a parsed sequence: runs of exactly-known text (literals, small literal alternations) are
    joined into candidate strings; the most selective requirement of the sequence wins."""
    best: set[str] | None = None
    run: set[str] = {""}
    for op, argument in items:
        exact = _exact(op, argument)
        if exact is not None and len(run) * len(exact) <= _MAX_EXACT:
            run = {head + tail for head in run for tail in exact}
            continue
        best = _stronger(best, run if run != {""} else None)
        run = {""} if exact is None else exact
        if exact is None:
            best = _stronger(best, _required_of(op, argument))
    return _stronger(best, run if run != {""} else None)


def _exact(op: Any, argument: Any) -> set[str] | None:
    """The lower-case strings an element matches, if few and fixed (`b`, `(?:ai|user)`), else None."""
    if op is sre_constants.LITERAL:
        return {chr(argument).lower()}
    if op is sre_constants.SUBPATTERN:
        return _exact_sequence(argument[3])
    if op is sre_constants.BRANCH:
        options: set[str] = set()
        for branch in argument[1]:
            exact = _exact_sequence(branch)
            if exact is None:
                return None
            options |= exact
        return options if len(options) <= _MAX_EXACT else None
    return None


def _exact_sequence(items: Iterable[tuple[Any, Any]]) -> set[str] | None:
    strings = {""}
    for op, argument in items:
        exact = _exact(op, argument)
        if exact is None or len(strings) * len(exact) > _MAX_EXACT:
            return None
        strings = {head + tail for head in strings for tail in exact}
    return strings


def _required_of(op: Any, argument: Any) -> set[str] | None:
    if op is sre_constants.SUBPATTERN:
        return _required(argument[3])
    if op is sre_constants.ATOMIC_GROUP:
        return _required(argument)
    if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT):
        return _required(argument[2]) if argument[0] >= 1 else None
    if op is sre_constants.BRANCH:
        branches = [_required(branch) for branch in argument[1]]
        if any(branch is None or min(map(len, branch)) < _MIN_LITERAL for branch in branches):
            return None
        return set().union(*(branch for branch in branches if branch is not None))
    return None


def _stronger(current: set[str] | None, other: set[str] | None) -> set[str] | None:
    """The requirement whose shortest literal is longer (the more selective prefilter)."""
    if other is None or not other or min(map(len, other)) == 0:
        return current
    if current is None:
        return other
    return other if min(map(len, other)) > min(map(len, current)) else current


def _python_regex(pattern: str) -> str:
    """Rewrite what Python's `re` lacks: `(?<!a|bc)` (alternatives of unequal width) as `(?<!a)(?<!bc)`."""
    return _ALTERNATION_LOOKBEHIND.sub(
        lambda m: "".join(f"(?<!{alternative})" for alternative in m.group(1).split("|")), pattern
    )


def load_bot_patterns(*, keep_dropped: bool = False) -> list[BotPattern]:
    """The bundled patterns in priority order: crawler-user-agents, Matomo, pulse's own rules.

    Without `keep_dropped`, the patterns of `DROPPED_PATTERNS` are left out.
    """
    crawler = json.loads(resources.files("crawleruseragents").joinpath("crawler-user-agents.json").read_text("utf-8"))
    patterns = [
        BotPattern(CRAWLER_USER_AGENTS, _crawler_name(entry["pattern"]), entry["pattern"], ignore_case=False)
        for entry in crawler
    ]
    # Matomo's bots, then its HTTP libraries and feed readers (programs, not people, though Matomo files them as
    # clients). A top-level alternation ("Generic Bot": 90 unrelated names) becomes one pattern per branch, so
    # that a user agent runs only the branch whose literal it contains, not a 1,400-character regex.
    patterns += [
        BotPattern(source, _matomo_name(entry), _MATOMO_BOUNDARY.format(branch))
        for source, file in _MATOMO_LISTS
        for entry in _matomo_list(file)
        for branch in top_level_branches(entry["regex"])
    ]
    patterns += [BotPattern(PULSE, name, regex) for name, regex in PULSE_BOT_TOKENS.items()]
    return [pattern for pattern in patterns if keep_dropped or pattern.reason not in DROPPED_PATTERNS]


def _matomo_list(file: str) -> list[dict[str, Any]]:
    """One of the vendored Matomo device-detector lists (`data/`): entries with `regex` and `name`."""
    text = resources.files("pulse.enrich").joinpath(f"data/{file}").read_text("utf-8")
    entries: list[dict[str, Any]] = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    return entries


def top_level_branches(pattern: str) -> list[str]:
    """`a|b(c|d)|[|]` -> [`a`, `b(c|d)`, `[|]`]: split on the `|` outside groups and classes."""
    branches, start, depth, in_class, escaped = [], 0, 0, False, False
    for at, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            branches.append(pattern[start:at])
            start = at + 1
    return [*branches, pattern[start:]]


def _crawler_name(pattern: str) -> str:
    """A readable name from a crawler-user-agents regex: `Googlebot\\/` -> `Googlebot`."""
    name = re.sub(r"\\(.)", r"\1", pattern).strip("^$/ ")
    return name or pattern


def _matomo_name(entry: dict[str, Any]) -> str:
    """Matomo's bot name; names that are capture references (`\\g<1>`) fall back to the regex."""
    name = str(entry.get("name") or "")
    return entry["regex"] if not name or "\\" in name or "$" in name else name


def data_versions() -> dict[str, str]:
    """Versions of the bot data in use, for `pulse stats`, the accuracy report and the docs."""
    return {
        CRAWLER_USER_AGENTS: metadata.version("crawler-user-agents"),
        "matomo-device-detector": MATOMO_BOTS_VERSION,
        "ua-parser-builtins": metadata.version("ua-parser-builtins"),
    }


@cache
def default_bot_matcher() -> BotMatcher:
    """The matcher of the bundled lists, compiled once per process."""
    return BotMatcher(load_bot_patterns())
