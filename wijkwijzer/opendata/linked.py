"""Linked data for search engines and data portals: schema.org JSON-LD for a case page, the DCAT-AP catalogue
of the collection, the sitemap and robots.txt. Pure functions over plain data; the web layer supplies URLs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from xml.sax.saxutils import escape

PROGRAMME = "Nationaal Programma Leefbaarheid en Veiligheid"
PROGRAMME_URL = "https://www.nplv.nl"
# The licence of the collection's metadata and texts: CC BY 4.0 (reuse with attribution to the programme).
# The programme has to confirm this choice; it is one constant so the decision changes in one place.
LICENSE = "https://creativecommons.org/licenses/by/4.0/"
LICENSE_NAME = "Creative Commons Naamsvermelding 4.0 Internationaal (CC BY 4.0)"
# EU vocabularies that DCAT-AP(-NL) asks for: the data theme "Regions and cities", Dutch, the Netherlands.
EU_THEME = "http://publications.europa.eu/resource/authority/data-theme/REGI"
EU_LANGUAGE = "http://publications.europa.eu/resource/authority/language/NLD"
EU_COUNTRY = "http://publications.europa.eu/resource/authority/country/NLD"
EU_FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/IRREG"
EU_FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
IANA = "https://www.iana.org/assignments/media-types/"


def script_json(data: dict) -> str:
    """JSON for inside `<script type="application/ld+json">`: `<`, `>` and `&` as \\u escapes, so no text (a
    title with `</script>` or `<!--`) can end the element or start markup; JSON parsers read the same string."""
    text = json.dumps(data, ensure_ascii=False, indent=None)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def publisher() -> dict:
    """The programme as a schema.org Organization."""
    return {"@type": "Organization", "name": PROGRAMME, "url": PROGRAMME_URL}


def article(record: dict, site_url: str) -> dict:
    """schema.org `Article` of a case study from its public record (records.public_record)."""
    places: list[dict] = []
    area = record["focus_area"]
    if area:
        places.append({"@type": "Place", "name": area["name"],
                       "containedInPlace": {"@type": "AdministrativeArea", "name": area["municipality"]}})
    if record["municipality"] and not (area and area["municipality"] == record["municipality"]):
        places.append({"@type": "AdministrativeArea", "name": record["municipality"]})
    data = {
        "@context": "https://schema.org",
        "@type": "Article",
        "@id": record["url"],
        "url": record["url"],
        "mainEntityOfPage": record["url"],
        "headline": record["title"][:110],  # the length search engines show; the full title is `name`
        "name": record["title"],
        "description": record["summary"] or None,
        "inLanguage": "nl",
        "about": [{"@type": "Thing", "name": t["label"]} for t in record["themes"] + record["action_lines"]],
        "keywords": record["tags"] or None,
        "spatialCoverage": places or None,
        "datePublished": record["date"] or record["published"],
        "dateModified": record["modified"],
        "publisher": publisher(),
        "isPartOf": {"@type": "WebSite", "name": "Wijkwijzer", "url": site_url + "/"},
        "license": LICENSE,
        "isBasedOn": record["source_url"] or None,
    }
    return {key: value for key, value in data.items() if value not in (None, [])}


def catalogue(*, site_url: str, urls: dict[str, str], modified: str | None, issued: str | None, count: int,
              themes: Iterable[str], areas: Iterable[dict]) -> dict:
    """The DCAT-AP catalogue (JSON-LD) with one dataset, the case studies, and its distributions.

    `urls`: api, api_docs, jsonl, csv, feed, catalogue, home; `areas`: the focus areas (name, municipality).
    """
    org = {"@id": PROGRAMME_URL, "@type": "foaf:Organization", "foaf:name": PROGRAMME}
    contact = {"@type": "vcard:Organization", "vcard:fn": PROGRAMME, "vcard:hasURL": {"@id": PROGRAMME_URL}}
    licence = {"@id": LICENSE, "@type": "dct:LicenseDocument", "rdfs:label": LICENSE_NAME}

    def distribution(key: str, title: str, description: str, media_type: str, file_type: str) -> dict:
        return {
            "@id": f"{urls['catalogue']}#distributie-{key}",
            "@type": "dcat:Distribution",
            "dct:title": {"@language": "nl", "@value": title},
            "dct:description": {"@language": "nl", "@value": description},
            "dcat:accessURL": {"@id": urls[key]},
            "dcat:downloadURL": {"@id": urls[key]} if key in ("jsonl", "csv", "feed") else None,
            "dcat:mediaType": {"@id": IANA + media_type},
            "dct:format": {"@id": EU_FILE_TYPE + file_type},
            "dct:license": licence,
            "dct:modified": _typed(modified),
        }

    distributions = [
        distribution("api", "JSON-API: praktijkvoorbeelden",
                     "Alle praktijkvoorbeelden per pagina, met since= om alleen gewijzigde op te halen. "
                     f"Beschrijving: {urls['api_docs']}", "application/json", "JSON"),
        distribution("jsonl", "Download: JSON Lines", "Eén praktijkvoorbeeld per regel, UTF-8.",
                     "application/jsonl", "JSON"),
        distribution("csv", "Download: CSV", "Eén praktijkvoorbeeld per rij, UTF-8, vaste kolommen; lijsten "
                     "gescheiden door ' | '.", "text/csv", "CSV"),
        distribution("feed", "Atom-feed: nieuwe praktijkvoorbeelden", "De twintig nieuwste praktijkvoorbeelden.",
                     "application/atom+xml", "ATOM"),
    ]
    for item in distributions:
        if item["dcat:downloadURL"] is None:
            del item["dcat:downloadURL"]
        if item["dct:modified"] is None:
            del item["dct:modified"]
        if item["@id"].endswith("-api"):
            item["dcat:accessService"] = {"@type": "dcat:DataService",
                                          "dct:title": {"@language": "nl", "@value": "Wijkwijzer JSON-API"},
                                          "dcat:endpointURL": {"@id": urls["api"]},
                                          "dcat:endpointDescription": {"@id": urls["api_docs"]}}
    spatial = [{"@id": EU_COUNTRY, "@type": "dct:Location"}]
    spatial += [{"@type": "dct:Location", "rdfs:label": {"@language": "nl",
                                                         "@value": f"{a['name']} ({a['municipality']})"}}
                for a in areas]
    dataset = {
        "@id": f"{urls['catalogue']}#praktijkvoorbeelden",
        "@type": "dcat:Dataset",
        "dct:identifier": f"{urls['catalogue']}#praktijkvoorbeelden",
        "dct:title": {"@language": "nl", "@value": "Wijkwijzer: praktijkvoorbeelden leefbaarheid en veiligheid"},
        "dct:description": {"@language": "nl", "@value": (
            f"{count} praktijkvoorbeelden van aanpakken voor leefbaarheid en veiligheid in de twintig "
            "stedelijke focusgebieden van het " + PROGRAMME + ": titel, samenvatting, thema's, actielijnen, "
            "focusgebied, gemeente, organisaties, onderbouwing, trefwoorden, bron en datums. Zonder "
            "persoonsgegevens.")},
        "dct:publisher": org,
        "dcat:contactPoint": contact,
        "dct:license": licence,
        "dct:accessRights": {"@id": "http://publications.europa.eu/resource/authority/access-right/PUBLIC"},
        "dct:language": {"@id": EU_LANGUAGE},
        "dcat:theme": {"@id": EU_THEME},
        "dcat:keyword": [{"@language": "nl", "@value": t} for t in themes],
        "dct:spatial": spatial,
        "dct:accrualPeriodicity": {"@id": EU_FREQUENCY},
        "dcat:landingPage": {"@id": urls["home"]},
        "dcat:distribution": distributions,
    }
    if modified:
        dataset["dct:modified"] = _typed(modified)
    if issued:
        dataset["dct:issued"] = _typed(issued)
    return {
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/", "vcard": "http://www.w3.org/2006/vcard/ns#",
            "rdfs": "http://www.w3.org/2000/01/rdf-schema#", "xsd": "http://www.w3.org/2001/XMLSchema#",
        },
        "@id": urls["catalogue"],
        "@type": "dcat:Catalog",
        "dct:title": {"@language": "nl", "@value": "Wijkwijzer open data"},
        "dct:description": {"@language": "nl", "@value": "De praktijkvoorbeelden van Wijkwijzer als open "
                                                          "dataset, voor dataportalen en andere sites."},
        "dct:publisher": org,
        "dct:language": {"@id": EU_LANGUAGE},
        "dct:license": licence,
        "foaf:homepage": {"@id": urls["home"]},
        **({"dct:modified": _typed(modified)} if modified else {}),
        "dcat:dataset": [dataset],
    }


def _typed(moment: str | None) -> dict | None:
    return {"@value": moment, "@type": "xsd:dateTime"} if moment else None


def sitemap(entries: Iterable[tuple[str, str | None]]) -> str:
    """sitemaps.org XML for (absolute URL, lastmod) pairs."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']
    for url, lastmod in entries:
        lines.append(f"  <url><loc>{escape(url)}</loc>"
                     + (f"<lastmod>{escape(lastmod)}</lastmod>" if lastmod else "") + "</url>")
    lines.append("</urlset>")
    return "\n".join(lines) + "\n"


def robots(sitemap_url: str, disallow: Iterable[str]) -> str:
    """robots.txt: everything public may be crawled, except `disallow` (path prefixes or patterns)."""
    lines = ["User-agent: *", "Allow: /"]
    lines += [f"Disallow: {path}" for path in disallow]
    return "\n".join(lines) + f"\n\nSitemap: {sitemap_url}\n"
