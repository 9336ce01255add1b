"""Buffered hot-path metrics: what a scrape sees equals plain Prometheus calls."""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter, Histogram

from linkhop.metrics import BufferedCounter, BufferedHistogram

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1, 1.0)
AMOUNTS = [0.0, 0.0004, 0.0005, 0.0006, 0.001, 0.003, 0.0099, 0.2, 1.0, 7.5, 0.00049] * 7


def samples(metric: Counter | Histogram) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in metric.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def scrape() -> None:
    REGISTRY.get_sample_value("linkhop_queue_lag")  # any collection flushes every buffer


def test_buffered_histogram_matches_observe_after_each_scrape() -> None:
    plain = Histogram("t_plain_seconds", "x", ["app"], buckets=BUCKETS, registry=None)
    fast = Histogram("t_fast_seconds", "x", ["app"], buckets=BUCKETS, registry=None)
    buffered = BufferedHistogram(fast.labels("redirect"))
    for half in (AMOUNTS[:40], AMOUNTS[40:]):
        for amount in half:
            plain.labels("redirect").observe(amount)
            buffered.observe(amount)
        scrape()
        renamed = samples(fast).items()
        got = {(n.replace("t_fast", "t_plain"), labels): v for (n, labels), v in renamed}
        assert got == samples(plain)
    scrape()  # nothing new: a second flush adds nothing
    assert samples(fast)[("t_fast_seconds_count", (("app", "redirect"),))] == len(AMOUNTS)


def test_buffered_counter_reaches_its_child_on_scrape() -> None:
    counter = Counter("t_buffered_total", "x", ["result"], registry=None)
    hits = BufferedCounter(counter.labels("hit"))
    counter.labels("hit").inc(2)  # direct increments of the same child still add up
    for _ in range(5):
        hits.value += 1
    assert samples(counter)[("t_buffered_total", (("result", "hit"),))] == 2
    scrape()
    scrape()
    assert samples(counter)[("t_buffered_total", (("result", "hit"),))] == 7
