"""User agent -> device class, browser, OS and a bot verdict.

ua-parser (uap-core regexes) names the browser, OS and device model but has no notion of a
device *class*, so the class comes from a few well-known tokens on top of its result. Results are
cached per UA string: a handful of UA strings make up most traffic, and a cached lookup is a dict
hit instead of a regex scan (~13 µs with the Rust resolver, more with the pure Python one).
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

import ua_parser
from ua_parser.core import Device, Domain

# Longest UA we parse or store. Real browsers send < 400 characters; the cap bounds the LRU
# cache's memory and the stored column against junk or hostile headers.
MAX_UA_LENGTH = 512

# Non-human traffic that ua-parser does not classify as a Spider: link unfurlers, HTTP
# libraries, headless browsers, monitors. Case-insensitive. ``(?<!cu)bot`` keeps CUBOT phones
# human. Tokens that also appear in real in-app browsers (e.g. "Pinterest/") are left out.
_BOT_KEYWORDS = re.compile(
    r"(?<!cu)bot|crawl|spider|slurp|facebookexternalhit|facebookcatalog|preview|whatsapp"
    r"|embedly|iframely|vkshare|flipboardproxy|bitlybot|google-inspectiontool|googleother"
    r"|curl|wget|python-requests|python-urllib|httpx|aiohttp|go-http-client|okhttp|java/"
    r"|apache-httpclient|libwww-perl|node-fetch|axios|undici|scrapy|http\.rb|postmanruntime"
    r"|headless|phantomjs|lighthouse|pagespeed|pingdom|uptime|monitor|validator|feedfetcher",
    re.IGNORECASE,
)

_CONSOLE_TOKENS = ("playstation", "xbox", "nintendo")
_TV_TOKENS = (
    "smart-tv",
    "smarttv",
    "smart tv",
    "googletv",
    "google tv",
    "android tv",
    "appletv",
    "apple tv",
    "crkey",
    "roku",
    "hbbtv",
    "netcast",
    "web0s",
    "bravia",
    "aftm",
    "aftt",
    "afts",
    "aftb",
)
_WEARABLE_TOKENS = ("watch os", "watchos", "wear os", "apple watch")
_TABLET_TOKENS = ("ipad", "tablet", "kindle", "silk/", "playbook")
_MOBILE_TOKENS = ("mobi", "iphone", "ipod", "windows phone", "opera mini", "blackberry")
_DESKTOP_OS = frozenset(
    {
        "Windows",
        "Mac OS X",
        "Linux",
        "Ubuntu",
        "Chrome OS",
        "Fedora",
        "Debian",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
        "Solaris",
    }
)
# Device class rules, first match wins: (class, UA substrings, ua-parser device brands).
_CLASS_RULES: tuple[tuple[str, tuple[str, ...], frozenset[str]], ...] = (
    ("console", _CONSOLE_TOKENS, frozenset()),
    ("tv", _TV_TOKENS, frozenset()),
    ("wearable", _WEARABLE_TOKENS, frozenset()),
    ("tablet", _TABLET_TOKENS, frozenset({"Generic_Android_Tablet"})),
    ("mobile", _MOBILE_TOKENS, frozenset({"Generic_Smartphone"})),
    # Android phones send "Mobile"; an Android UA without it is a tablet by Google's guidance
    # (developer.chrome.com, "User-Agent strings").
    ("tablet", ("android",), frozenset()),
)
# ua-parser's family names that read badly on a dashboard.
_OS_NAMES = {"Mac OS X": "macOS", "Other": ""}


class UaInfo(NamedTuple):
    """What a user agent string says about the client."""

    device: str  # desktop | mobile | tablet | tv | console | wearable | bot | other
    browser: str
    browser_version: str
    os: str
    os_version: str
    bot_reason: str  # '' for humans, else ua_parser_spider | ua_keyword


@functools.cache
def _parser() -> ua_parser.Parser:
    # BestAvailableResolver is the Rust resolver when ua-parser-rs is installed (the `regex`
    # extra), else re2, else pure Python. No ua-parser cache: our own LRU sits above it.
    if ua_parser.RegexResolver is not None or ua_parser.Re2Resolver is not None:
        matchers = ua_parser.load_lazy_builtins()
    else:
        matchers = ua_parser.load_builtins()
    return ua_parser.Parser(ua_parser.BestAvailableResolver(matchers))


def _version(*parts: str | None) -> str:
    out: list[str] = []
    for part in parts:
        if part is None:
            break
        out.append(part)
    return ".".join(out)


def _device_class(ua_lower: str, device: Device | None, os_family: str) -> str:
    brand = device.brand if device is not None and device.brand else ""
    model = device.model if device is not None and device.model else ""
    # Samsung's SM-R models are Galaxy watches (their UAs otherwise look like Android phones).
    if brand == "Samsung" and model.startswith("SM-R"):
        return "wearable"
    for device_class, tokens, brands in _CLASS_RULES:
        if brand in brands or any(token in ua_lower for token in tokens):
            return device_class
    if os_family in _DESKTOP_OS or (device is not None and device.family == "Mac"):
        return "desktop"
    return "other"


@functools.lru_cache(maxsize=20_000)
def parse_user_agent(ua: str) -> UaInfo:
    """Classify a (non-empty) user agent string; cached."""
    ua = ua[:MAX_UA_LENGTH]
    result = _parser()(ua, Domain.ALL)
    agent, system, device = result.user_agent, result.os, result.device
    browser = agent.family if agent is not None and agent.family != "Other" else ""
    browser_version = "" if agent is None else _version(agent.major, agent.minor, agent.patch)
    os_family = system.family if system is not None else "Other"
    os_version = "" if system is None else _version(system.major, system.minor, system.patch)
    bot_reason = ""
    if device is not None and device.family == "Spider":
        bot_reason = "ua_parser_spider"
    elif _BOT_KEYWORDS.search(ua):
        bot_reason = "ua_keyword"
    device_class = "bot" if bot_reason else _device_class(ua.lower(), device, os_family)
    return UaInfo(
        device=device_class,
        browser=browser,
        browser_version=browser_version,
        os=_OS_NAMES.get(os_family, os_family),
        os_version=os_version,
        bot_reason=bot_reason,
    )
