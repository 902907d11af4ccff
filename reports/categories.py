"""Failure categories: which message means which kind of failure, defined once for every consumer.

Each `Category` names a failure kind the nightly reader cares about and the message patterns that
identify it. The engine and the suites make their messages contain one of these phrases (the
`token`, e.g. ``[LockContention]``, always matches its own category; the tokens are the
`ErrorCategory` members of matrix/results.py, which the runner puts in a cell's error); the reports use the same
patterns three ways:

* `classify(message, status)`   in Python, for the matrix grid, JUnit and Markdown;
* `allurerc_rules()`            for Allure 3 (its config file; JavaScript `RegExp(pattern, "i")`);
* `allure2_categories()`        for Allure 2 (`categories.json` in the results folder; Java regex,
                                matched against the whole message, hence the ``(?is).*(...).*``).

The patterns stay inside the subset of regular-expression syntax that Python, JavaScript and Java
read alike (alternation, classes, ``\\s``, ``\\S``, ``.*``, escapes; no look-behind, no inline flags,
no named groups) and are matched case-insensitively everywhere. Order matters: the first category
whose pattern matches wins, so the specific causes come before the two catch-alls (a failed
assertion is a product defect, a broken test or tool is a test defect).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from matrix.results import ErrorCategory, Status

FAILED_STATUSES = (Status.FAILED, Status.BROKEN)

#: Message patterns, one constant per category (exact text the engine and suites should produce).
THROTTLING_PATTERNS = (
    r"ThrottlingNotSurvived", r"throttl", r"Rate exceeded", r"RequestLimitExceeded",
    r"TooManyRequests", r"SlowDown",
)
MISSING_STATE_BUCKET_PATTERNS = (
    r"MissingStateBucket", r"state bucket \S+ does not exist", r"NoSuchBucket",
)
STATE_LOST_PATTERNS = (r"StateLost", r"state lost", r"errored\.tfstate")
LOCK_CONTENTION_PATTERNS = (r"LockContention", r"Error acquiring the state lock", r"lock held")
POLICY_PATTERNS = (r"PolicyViolation", r"policy violation", r"Invalid configuration")
EMULATOR_GAP_PATTERNS = (
    r"EmulatorGap", r"Emulator gap", r"not (?:yet )?implemented", r"has not been implemented",
    r"NotImplemented",
)
LEAKED_PATTERNS = (r"LeakedResources", r"leaked")
PRODUCT_DEFECT_PATTERNS = (r"ProductDefect", r"Product defect")
TEST_DEFECT_PATTERNS = (r"TestDefect", r"Test defect")


@dataclass(frozen=True)
class Category:
    id: str
    name: str
    token: ErrorCategory  # the bracketed phrase `tag_message()` prefixes; always one of `patterns`
    patterns: tuple[str, ...]
    statuses: tuple[str, ...] = FAILED_STATUSES
    description: str = ""
    #: statuses that fall into this category even when no pattern matches (the catch-alls)
    fallback_statuses: tuple[str, ...] = field(default=())
    #: a regex that, found in the message, keeps the catch-all from applying
    fallback_unless: str = ""

    @property
    def regex(self) -> str:
        """One alternation of all patterns (no flags: callers add case-insensitivity)."""
        return "|".join(f"(?:{p})" for p in self.patterns)

    def matchers(self) -> list[tuple[tuple[str, ...], str | None]]:
        """(statuses, regex or None for any message), tried in order, as Allure 3 does."""
        out: list[tuple[tuple[str, ...], str | None]] = [(self.statuses, self.regex)]
        if self.fallback_statuses:
            out.append((self.fallback_statuses, self.fallback_regex))
        return out

    @property
    def fallback_regex(self) -> str | None:
        """The catch-all yields to a later category whose own token is in the message."""
        if not self.fallback_unless:
            return None
        return rf"^(?![\s\S]*(?:{self.fallback_unless}))"

    def matches(self, message: str | None, status: str | None = None) -> bool:
        """True when a pattern of this category is in `message` (and `status` fits, if given)."""
        if status is not None and status not in self.statuses:
            return False
        return bool(_compiled(self.regex).search(message or ""))


CATEGORIES: tuple[Category, ...] = (
    Category("throttling", "Throttling not survived", ErrorCategory.THROTTLING, THROTTLING_PATTERNS,
             description="API throttling outlasted the client's retries (botocore retry mode/quota)."),
    Category("missing-state-bucket", "Missing state bucket", ErrorCategory.MISSING_STATE_BUCKET,
             MISSING_STATE_BUCKET_PATTERNS,
             description="The S3 backend bucket does not exist: bootstrap it (--bootstrap-backend)."),
    Category("state-lost", "State lost", ErrorCategory.STATE_LOST, STATE_LOST_PATTERNS,
             description="Terraform state could not be written back (errored.tfstate) or vanished."),
    Category("lock-contention", "Lock contention", ErrorCategory.LOCK_CONTENTION, LOCK_CONTENTION_PATTERNS,
             description="Another run holds the state lock (.tflock or DynamoDB lock)."),
    Category("policy", "Invalid configuration (policy)", ErrorCategory.POLICY, POLICY_PATTERNS,
             description="A synth policy rule rejected the synthesized configuration."),
    Category("leaked", "Leaked resources", ErrorCategory.LEAKED, LEAKED_PATTERNS,
             description="Resources tagged with the run id were still there after destroy."),
    Category("emulator-gap", "Emulator gap", ErrorCategory.EMULATOR_GAP, EMULATOR_GAP_PATTERNS,
             statuses=(Status.FAILED, Status.BROKEN, Status.SKIPPED),  # the live suite reports known gaps as xfail
             description="The emulator does not implement (or differs from AWS on) an API the stack needs."),
    Category("product-defect", "Product defect", ErrorCategory.PRODUCT_DEFECT, PRODUCT_DEFECT_PATTERNS,
             description="An expectation about the deployed infrastructure was not met.",
             fallback_statuses=(Status.FAILED,), fallback_unless="|".join(TEST_DEFECT_PATTERNS)),
    Category("test-defect", "Test defect", ErrorCategory.TEST_DEFECT, TEST_DEFECT_PATTERNS,
             description="The test or the tool broke (exception outside an assertion).",
             fallback_statuses=(Status.BROKEN,)),
)


def _compiled(regex: str, _cache: dict[str, re.Pattern[str]] = {}) -> re.Pattern[str]:  # noqa: B006
    if regex not in _cache:
        _cache[regex] = re.compile(regex, re.IGNORECASE | re.DOTALL)
    return _cache[regex]


def lookup(key: str | None) -> Category | None:
    """A category by id, name or token (case-insensitive): what a runner may put in error.category."""
    if not key:
        return None
    k = key.strip().lower()
    for c in CATEGORIES:
        if k in (c.id, c.name.lower(), c.token.lower()):
            return c
    return None


def classify(message: str | None, status: str, categories: Sequence[Category] = CATEGORIES) -> Category | None:
    """The category Allure 3 shows for a result with this message and status (None unless failed
    or broken): the first category one of whose matchers fits, exactly as Allure 3 matches."""
    if status not in FAILED_STATUSES:
        return None
    text = message or ""
    for c in categories:
        for statuses, regex in c.matchers():
            if status in statuses and (regex is None or _compiled(regex).search(text)):
                return c
    return None


def tag_message(message: str, category: Category | str | None) -> str:
    """Prefix `[Token] ` so the message lands in `category` even if its text says nothing."""
    cat = lookup(category) if isinstance(category, str) else category
    if cat is None or cat.matches(message):
        return message
    return f"[{cat.token}] {message}"


def allurerc_rules(categories: Iterable[Category] = CATEGORIES) -> list[dict]:
    """Rules for Allure 3's `categories.rules`; each `message` is a pattern source that the config
    file turns into `new RegExp(source, "i")` (which is why that file is JavaScript, not JSON)."""
    rules: list[dict] = []
    for c in categories:
        matchers = []
        for statuses, regex in c.matchers():
            m: dict = {"statuses": list(statuses)}
            if regex is not None:
                m["message"] = regex
            matchers.append(m)
        rules.append({"id": c.id, "name": c.name, "matchers": matchers, "expand": False})
    return rules


def allure2_categories(categories: Iterable[Category] = CATEGORIES) -> list[dict]:
    """`categories.json` for Allure 2 (first match wins; whole-message Java regex)."""
    out: list[dict] = []
    for c in categories:
        out.append({"name": c.name, "description": c.description, "matchedStatuses": list(c.statuses),
                    "messageRegex": f"(?is).*(?:{c.regex}).*"})
    for c in categories:
        if c.fallback_statuses:
            # A second entry with the same name (Allure 2 shows them as one category), after every
            # pattern entry so that the catch-alls apply last.
            entry = {"name": c.name, "description": c.description, "matchedStatuses": list(c.fallback_statuses)}
            if c.fallback_unless:
                entry["messageRegex"] = f"(?is)(?!.*(?:{c.fallback_unless})).*"
            out.append(entry)
    return out
