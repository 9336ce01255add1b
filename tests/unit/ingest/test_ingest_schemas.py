"""Raw click events: round trip and rejection of malformed queue items."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from linkhop.ingest.schemas import MalformedClickError, RawClick, decode_click, encode_click


def raw_click(**overrides: object) -> RawClick:
    click: dict[str, object] = {
        "click_id": "01938d2e-7b1c-7a3e-9f00-1234567890ab",
        "ts": 1_764_072_000.123,
        "org_id": "org_01jf",
        "link_id": "link_01jf",
        "domain": "go.example.com",
        "key": "spring",
        "url": "https://example.com/landing?utm_source=news",
        "trigger": "link",
        "ip": "81.2.69.160",
        "ua": "Mozilla/5.0",
        "referrer": "",
        "country": "",
        "method": "GET",
    }
    click.update(overrides)
    return click  # type: ignore[return-value]  # the overrides are checked by decode_click


def test_round_trip_keeps_every_field() -> None:
    click = raw_click()

    assert decode_click(encode_click(click)) == click


def test_unknown_fields_are_dropped_so_newer_producers_keep_flowing() -> None:
    payload = orjson.dumps({**raw_click(), "variant": "b"})

    assert "variant" not in decode_click(payload)


def test_integer_timestamp_is_accepted_as_float() -> None:
    decoded = decode_click(encode_click(raw_click(ts=1_764_072_000)))

    assert decoded["ts"] == 1_764_072_000.0
    assert isinstance(decoded["ts"], float)


def test_click_id_is_normalised_to_canonical_text() -> None:
    decoded = decode_click(encode_click(raw_click(click_id="01938D2E7B1C7A3E9F001234567890AB")))

    assert decoded["click_id"] == "01938d2e-7b1c-7a3e-9f00-1234567890ab"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (orjson.dumps({k: v for k, v in raw_click().items() if k != "ip"}), "'ip'"),
        (orjson.dumps(raw_click(ua=None)), "'ua'"),
        (orjson.dumps(raw_click(ts="yesterday")), "'ts'"),
        (orjson.dumps(raw_click(ts=True)), "'ts'"),
        (orjson.dumps(raw_click(ts=-5)), "'ts'"),
        (orjson.dumps(raw_click(trigger="email")), "'trigger'"),
        (orjson.dumps(raw_click(method="POST")), "'method'"),
        (orjson.dumps(raw_click(click_id="not-a-uuid")), "'click_id'"),
        (orjson.dumps(raw_click(link_id="")), "'link_id'"),
    ],
)
def test_malformed_events_raise_a_clear_error(payload: bytes, message: str) -> None:
    with pytest.raises(MalformedClickError, match=message):
        decode_click(payload)


def test_schemas_module_stays_light_for_the_redirect_path() -> None:
    # The redirect service imports this module; it must not drag in the enrichment libraries.
    code = (
        "import sys, linkhop.ingest.schemas; heavy = ('ua_parser', 'maxminddb', 'structlog',"
        " 'clickhouse_connect'); print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"
