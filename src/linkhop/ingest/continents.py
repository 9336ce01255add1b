"""ISO 3166-1 alpha-2 country code -> continent code, as data.

Continent codes are the seven GeoNames / MaxMind codes (AF AN AS EU NA OC SA). The assignment
follows GeoNames, which MaxMind databases use, so a country from the edge header and a country
from a GeoIP lookup land on the same continent (e.g. Cyprus is EU, Turkey and the Caucasus are
AS, the US Minor Outlying Islands are OC). ``XK`` (Kosovo) is not in ISO 3166-1 but is sent by
Cloudflare and MaxMind, so it is accepted.
"""

from __future__ import annotations

_COUNTRIES_BY_CONTINENT = {
    "AF": (
        "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW KE KM LR LS LY MA "
        "MG ML MR MU MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TG TN TZ UG YT ZA ZM ZW"
    ),
    "AN": "AQ BV GS HM TF",
    "AS": (
        "AE AF AM AZ BD BH BN BT CC CN CX GE HK ID IL IN IO IQ IR JO JP KG KH KP KR KW KZ LA LB "
        "LK MM MN MO MV MY NP OM PH PK PS QA SA SG SY TH TJ TL TM TR TW UZ VN YE"
    ),
    "EU": (
        "AD AL AT AX BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM IS IT JE "
        "LI LT LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM UA VA XK"
    ),
    "NA": (
        "AG AI AW BB BL BM BQ BS BZ CA CR CU CW DM DO GD GL GP GT HN HT JM KN KY LC MF MQ MS MX "
        "NI PA PM PR SV SX TC TT US VC VG VI"
    ),
    "OC": "AS AU CK FJ FM GU KI MH MP NC NF NR NU NZ PF PG PN PW SB TK TO TV UM VU WF WS",
    "SA": "AR BO BR CL CO EC FK GF GY PE PY SR UY VE",
}

CONTINENT_BY_COUNTRY: dict[str, str] = {
    country: continent
    for continent, countries in _COUNTRIES_BY_CONTINENT.items()
    for country in countries.split()
}

CONTINENTS: frozenset[str] = frozenset(_COUNTRIES_BY_CONTINENT)


def normalize_country(value: str) -> str:
    """Return the upper-case ISO alpha-2 code, or '' when ``value`` is not a known country."""
    code = value.strip().upper()
    return code if code in CONTINENT_BY_COUNTRY else ""


def continent_of(country: str) -> str:
    """Continent code of a normalised country code, '' when unknown."""
    return CONTINENT_BY_COUNTRY.get(country, "")
