"""Realistic raw click events (what the redirect service publishes), for the ingest benchmark.

The mix matters for enrichment cost: real browser user agents of several families (parsed by
ua-parser), some bots, referrers with and without UTM parameters, IPv4 and IPv6 addresses.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from bench.seed import SeededLink
from linkhop.ids import uuid7
from linkhop.ingest.schemas import RawClick

BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
# (weight, user agent). Roughly a consumer-link traffic mix; bots are a few percent.
USER_AGENTS: list[tuple[int, str]] = [
    (30, BROWSER_UA),
    (
        22,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    ),
    (
        18,
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.43 Mobile Safari/537.36",
    ),
    (
        8,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.1 Safari/605.1.15",
    ),
    (6, "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"),
    (
        4,
        "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.1 Mobile/15E148 Safari/604.1",
    ),
    (
        4,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61",
    ),
    (
        3,
        "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    ),
    (2, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    (1, "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"),
    (1, "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"),
    (1, "curl/8.4.0"),
]
REFERRERS: list[tuple[int, str]] = [
    (40, ""),
    (20, "https://www.google.com/"),
    (10, "https://t.co/"),
    (8, "https://www.linkedin.com/feed/"),
    (6, "https://news.ycombinator.com/item?id=38000000"),
    (6, "https://www.facebook.com/"),
    (5, "https://mail.example.org/newsletter?utm_source=newsletter&utm_medium=email"),
    (5, "https://www.reddit.com/r/programming/comments/abc/"),
]
COUNTRIES = ["US", "US", "US", "DE", "GB", "FR", "IN", "BR", "JP", "CA", "NL", "ES", "", ""]
UTM_SUFFIXES = ["", "", "", "utm_source=twitter&utm_medium=social&utm_campaign=launch"]


def _weighted(options: Sequence[tuple[int, str]]) -> tuple[list[str], list[int]]:
    return [value for _, value in options], [weight for weight, _ in options]


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.15:
        a, b, c = rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(16)
        return f"2001:db8:{a:x}:{b:x}::{c:x}"
    return f"{rng.randint(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"


def raw_clicks(
    links: Sequence[SeededLink], count: int, *, org_id: str, domain: str, now: float, seed: int = 5
) -> Iterator[RawClick]:
    """``count`` click events on ``links`` over the minute before ``now`` (epoch seconds)."""
    rng = random.Random(seed)
    uas, ua_weights = _weighted(USER_AGENTS)
    refs, ref_weights = _weighted(REFERRERS)
    for _ in range(count):
        link = links[min(int(rng.paretovariate(1.1)) - 1, len(links) - 1)]
        utm = rng.choice(UTM_SUFFIXES)
        url = f"{link.url}{'&' if '?' in link.url else '?'}{utm}" if utm else link.url
        yield {
            "click_id": str(uuid7()),
            "ts": round(now - rng.random() * 60, 3),
            "org_id": org_id,
            "link_id": link.id,
            "domain": domain,
            "key": link.key,
            "url": url,
            "trigger": "qr" if rng.random() < 0.05 else "link",
            "ip": _ip(rng),
            "ua": rng.choices(uas, ua_weights)[0],
            "referrer": rng.choices(refs, ref_weights)[0],
            "country": rng.choice(COUNTRIES),
            "method": "HEAD" if rng.random() < 0.02 else "GET",
        }
