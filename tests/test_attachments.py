"""Attachments, images in the body and contact details: what `wijkwijzer check` and the index accept, with real
files in a tmp content tree and the real parse worker."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from click.testing import CliRunner

from tests.casefiles_helpers import SAMPLE_PDF, jpeg_header, office, opendocument, png, put
from tests.conftest import make_settings, write_case
from wijkwijzer.casefiles import FileRefused, open_case_file
from wijkwijzer.cli import main
from wijkwijzer.config import ATTACHMENT_TYPES, Settings, SettingsError
from wijkwijzer.domain.attachments import FilePolicy, body_images, clean_relative, format_size
from wijkwijzer.domain.contact import parse_contact, phone_uri
from wijkwijzer.domain.filetypes import TYPES, image_size
from wijkwijzer.services import Services

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def attachments(*items: tuple[str, str]) -> str:
    """The YAML of an `attachments` field."""
    return "attachments:\n" + "".join(f"  - file: {f}\n    title: {t}\n" for f, t in items)


def problems_of(services: Services, relative: str) -> list[str]:
    """`field: message` of every problem `check` reports for one file."""
    return [f"{p.line}: {p.field}: {p.message}" for p in services.knowledge.check() if p.path == relative]


def test_a_case_with_valid_files_passes_and_lists_them(services, content_dir):
    folder = content_dir / "a"
    put(folder, "factsheet.pdf", PDF)
    put(folder, "bijlagen/verslag.docx", office("docx"))
    put(folder, "bijlagen/cijfers.ods", opendocument("application/vnd.oasis.opendocument.spreadsheet"))
    put(folder, "foto.png", png())
    write_case(content_dir, "a/goed.md", "title: Goed\n" + attachments(
        ("factsheet.pdf", "Factsheet"), ("bijlagen/verslag.docx", "Verslag"), ("bijlagen/cijfers.ods", "Cijfers")),
        "Tekst.\n\n![Bewoners bij de opening](foto.png)")
    assert problems_of(services, "a/goed.md") == []
    services.sync()
    stored = services.case("a/goed")
    assert [a["file"] for a in stored["attachments"]] == ["factsheet.pdf", "bijlagen/verslag.docx",
                                                          "bijlagen/cijfers.ods"]
    assert stored["images"] == ["foto.png"]


@pytest.mark.parametrize(("files", "field", "expected"), [
    ([("ontbreekt.pdf", "Weg")], "attachments",
     "'ontbreekt.pdf' bestaat niet naast de casus (verwacht: a/ontbreekt.pdf)"),
    ([("../geheim.pdf", "Buiten")], "attachments", "'../geheim.pdf' is geen pad naast de casus"),
    ([("/etc/passwd.pdf", "Absoluut")], "attachments", "'/etc/passwd.pdf' is geen pad naast de casus"),
    ([("map/../../x.pdf", "Omweg")], "attachments", "'map/../../x.pdf' is geen pad naast de casus"),
    ([("C:/x.pdf", "Schijf")], "attachments", "'C:/x.pdf' is geen pad naast de casus"),
    ([(".verborgen.pdf", "Verborgen")], "attachments", "'.verborgen.pdf' is geen pad naast de casus"),
    ([("programma.exe", "Programma")], "attachments",
     "'programma.exe' heeft een bestandstype dat niet is toegestaan; toegestaan: docx, gif, jpeg, jpg, odp, ods, odt,"
     " pdf, png, pptx, webp, xlsx"),
    ([("tekening.svg", "Tekening")], "attachments", "'tekening.svg' heeft een bestandstype dat niet is toegestaan"),
])
def test_bad_attachment_paths_and_types_are_errors(services, content_dir, files, field, expected):
    write_case(content_dir, "a/fout.md", "title: Fout\n" + attachments(*files))
    found = problems_of(services, "a/fout.md")
    assert len(found) == 1 and found[0].startswith(f"3: {field}: "), found
    assert expected in found[0]


def test_content_must_agree_with_the_extension(services, content_dir):
    folder = content_dir / "a"
    put(folder, "nep.pdf", b"Dit is gewoon tekst, geen PDF.\n")
    put(folder, "html.png", b"<html><script>alert(1)</script></html>")
    put(folder, "stiekem.docx", office("docx", macro=True))
    put(folder, "excel.docx", office("xlsx"))
    put(folder, "tekst.ods", opendocument("application/vnd.oasis.opendocument.text"))
    write_case(content_dir, "a/fout.md", "title: Fout\n" + attachments(
        ("nep.pdf", "Nep"), ("html.png", "Html"), ("stiekem.docx", "Macro"), ("excel.docx", "Excel"),
        ("tekst.ods", "Tekst")))
    found = problems_of(services, "a/fout.md")
    assert found == [
        "3: attachments: 'nep.pdf': de inhoud is geen PDF (de eerste bytes passen niet bij .pdf); sla het bestand "
        "opnieuw op in dat formaat of geef het de juiste extensie",
        *[f"3: attachments: '{name}': de inhoud is geen {label} (de eerste bytes passen niet bij .{ext}); sla het "
          "bestand opnieuw op in dat formaat of geef het de juiste extensie"
          for name, label, ext in [("html.png", "PNG-afbeelding", "png"), ("stiekem.docx", "Word-document", "docx"),
                                   ("excel.docx", "Word-document", "docx"),
                                   ("tekst.ods", "OpenDocument-rekenblad", "ods")]],
    ]


def test_too_large_and_not_allowed_by_the_settings(tmp_path, content_dir):
    put(content_dir / "a", "groot.pdf", PDF + b"0" * 3000)
    put(content_dir / "a", "klein.pdf", PDF)
    put(content_dir / "a", "verslag.docx", office("docx"))
    write_case(content_dir, "a/groot.md",
               "title: Groot\n" + attachments(("groot.pdf", "Groot"), ("klein.pdf", "Klein")))
    write_case(content_dir, "a/word.md", "title: Word\n" + attachments(("verslag.docx", "Verslag")))
    settings = replace(make_settings(tmp_path, content_dir), attachment_max_mb=0.003, attachment_types=("pdf",))
    svc = Services.build(settings)
    try:
        assert problems_of(svc, "a/groot.md") == [
            "3: attachments: 'groot.pdf' is 3 kB; de grens is 3 kB (maak het bestand kleiner)"]
        assert problems_of(svc, "a/word.md") == [
            "3: attachments: 'verslag.docx': dit bestandstype is niet toegestaan; toegestaan: pdf"]
    finally:
        svc.close()


def test_a_symbolic_link_out_of_content_is_refused_but_one_inside_is_fine(services, content_dir, tmp_path):
    outside = put(tmp_path / "elders", "geheim.pdf", PDF)
    put(content_dir / "gedeeld", "algemeen.pdf", PDF)
    (content_dir / "a").mkdir()
    os.symlink(outside, content_dir / "a" / "link.pdf")
    os.symlink(tmp_path / "elders", content_dir / "a" / "map")
    os.symlink(content_dir / "gedeeld" / "algemeen.pdf", content_dir / "a" / "algemeen.pdf")
    write_case(content_dir, "a/links.md", "title: Links\n" + attachments(
        ("link.pdf", "Link"), ("map/geheim.pdf", "Map"), ("algemeen.pdf", "Algemeen")))
    found = problems_of(services, "a/links.md")
    assert found == [f"3: attachments: '{name}' verwijst naar een bestand buiten de map content/; zet het bestand "
                     "zelf naast de casus" for name in ("link.pdf", "map/geheim.pdf")]


def test_attachment_field_shape_is_checked(services, content_dir):
    put(content_dir / "a", "f.pdf", PDF)
    write_case(content_dir, "a/vorm.md", "title: Vorm\nattachments:\n  - f.pdf\n  - file: f.pdf\n"
                                         "  - title: Zonder bestand\n  - file: f.pdf\n    title: Dubbel\n"
                                         "  - file: f.pdf\n    title: Nog eens\n    kleur: rood\n")
    write_case(content_dir, "a/tekst.md", "title: Tekst\nattachments: f.pdf")
    assert problems_of(services, "a/vorm.md") == [
        "3: attachments: bijlage 1: verwacht de velden file en title, bijvoorbeeld file: factsheet.pdf",
        "3: attachments: bijlage 2 (f.pdf): het veld title ontbreekt; de titel is de tekst van de link",
        "3: attachments: bijlage 3: het veld file ontbreekt (het bestand naast de casus, zoals factsheet.pdf)",
        "3: attachments: bijlage 5: verwacht de velden file en title, bijvoorbeeld file: factsheet.pdf",
    ]
    assert problems_of(services, "a/tekst.md")[0].startswith("3: attachments: verwacht een lijst van bijlagen")


def test_images_need_alt_text_a_file_beside_the_case_and_an_image_type(services, content_dir):
    put(content_dir / "a", "foto.png", png())
    put(content_dir / "a", "doc.pdf", PDF)
    put(content_dir / "a", "nep.jpg", b"geen jpeg")
    write_case(content_dir, "a/beeld.md", "title: Beeld", "\n".join([
        "Intro.",  # line 4: the body starts after the closing '---' on line 3
        "![](foto.png)",
        "![  ](foto.png)",
        "![Logo](https://example.org/logo.png)",
        "![Kaart](../kaart.png)",
        "![Document](doc.pdf)",
        "![Weg](ontbreekt.png)",
        "![Nep](nep.jpg)",
        "```",
        "![](in-code.png)",
        "```",
        '<img src="foto.png">',
        "![Goed](foto.png) en ![Ook goed](<foto.png> \"titel\")",
    ]))
    assert problems_of(services, "a/beeld.md") == [
        "5: afbeelding: afbeelding 'foto.png' heeft geen alt-tekst; beschrijf tussen de [ ] wat erop staat, zoals "
        "![Bewoners planten bomen op het schoolplein](schoolplein.jpg)",
        "6: afbeelding: afbeelding 'foto.png' heeft geen alt-tekst; beschrijf tussen de [ ] wat erop staat, zoals "
        "![Bewoners planten bomen op het schoolplein](schoolplein.jpg)",
        "7: afbeelding: afbeelding 'https://example.org/logo.png' staat op een andere plek; zet het bestand naast de "
        "casus en verwijs er met een relatief pad naar (externe afbeeldingen worden niet getoond)",
        "8: afbeelding: afbeelding '../kaart.png' is geen pad naast de casus; gebruik een relatief pad binnen content/"
        " zonder '..' en zonder '/' vooraan",
        "9: afbeelding: 'doc.pdf' is geen afbeelding; toegestaan: gif, jpeg, jpg, png, webp",
        "15: afbeelding: een HTML-tag <img> wordt niet getoond; gebruik markdown met alt-tekst, zoals "
        "![Bewoners planten bomen](bomen.jpg)",
    ]
    # The syntax is fine once those lines go; then the files on disk are checked, on their own lines.
    write_case(content_dir, "a/beeld.md", "title: Beeld", "Intro.\n![Weg](ontbreekt.png)\n![Nep](nep.jpg)\n"
                                                         "![Goed](foto.png)")
    assert problems_of(services, "a/beeld.md") == [
        "5: afbeelding: 'ontbreekt.png' bestaat niet naast de casus (verwacht: a/ontbreekt.png)",
        "6: afbeelding: 'nep.jpg': de inhoud is geen JPEG-afbeelding (de eerste bytes passen niet bij .jpg); sla het "
        "bestand opnieuw op in dat formaat of geef het de juiste extensie",
    ]


def test_contact_formats_are_checked(services, content_dir):
    write_case(content_dir, "a/contact.md", "title: Contact\ncontact:\n  name: Wijkteam Noord\n"
                                            "  email: wijkteam(at)gemeente.nl\n  phone: 12345\n"
                                            "  url: javascript:alert(1)\n  fax: 010 123 45 67")
    assert problems_of(services, "a/contact.md") == [
        "3: contact: onbekend veld 'fax' in contact; toegestaan: name, email, phone, url",
        "3: contact: contact.email: 'wijkteam(at)gemeente.nl' is geen e-mailadres (zoals wijkteam@gemeente.nl)",
        "3: contact: contact.phone: '12345' is geen telefoonnummer (zoals 010 123 45 67, +31 10 123 45 67 of 14 010)",
        "3: contact: contact.url: 'javascript:alert(1)' is geen webadres (zoals https://www.gemeente.nl/wijk)",
    ]


def test_contact_as_text_or_mapping():
    name = "Team Jeugd, gemeente Tilburg"
    assert parse_contact(name) == (parse_contact({"name": name})[0], [])
    contact, problems = parse_contact({"name": "Wijkteam", "email": "wijkteam@gemeente.nl",
                                       "phone": "010 - 123 45 67", "url": "https://www.gemeente.nl/wijk"})
    assert problems == [] and contact.tel == "+31101234567"
    assert parse_contact({})[1] == [
        "contact is leeg; geef ten minste een naam, e-mailadres, telefoonnummer of webadres"]


@pytest.mark.parametrize(("written", "uri"), [
    ("010 123 45 67", "+31101234567"), ("06-12345678", "+31612345678"), ("+31 (0)10 123 45 67", "+31101234567"),
    ("0031 10 1234567", "+31101234567"), ("+32 2 123 45 67", "+3221234567"), ("14 010", "14010"),
    ("14 0318", "140318"), ("0800 1234", "+318001234"), ("12345", ""), ("010 123", ""), ("bel ons", ""),
    ("+1", ""), ("", ""),
])
def test_phone_numbers(written, uri):
    assert phone_uri(written) == uri


def test_a_case_kept_out_by_a_missing_file_is_published_once_the_file_is_there(services, content_dir):
    write_case(content_dir, "a/later.md", "title: Later\n" + attachments(("rapport.pdf", "Rapport")))
    report = services.sync()
    assert [p.message for p in report.errors] == ["'rapport.pdf' bestaat niet naast de casus (verwacht: a/rapport.pdf)"]
    assert services.case("a/later") is None
    put(content_dir / "a", "rapport.pdf", PDF)
    report = services.sync()
    assert report.errors == [] and services.case("a/later")["attachments"][0]["title"] == "Rapport"


def test_check_command_exits_1_and_names_file_line_and_field(tmp_path, content_dir, monkeypatch):
    write_case(content_dir, "a/fout.md", "title: Fout\n" + attachments(("weg.pdf", "Weg")), "![](foto.png)")
    monkeypatch.setenv("WIJKWIJZER_CONTENT_DIR", str(content_dir))
    monkeypatch.setenv("WIJKWIJZER_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(main, ["check"], catch_exceptions=False)
    assert result.exit_code == 1
    assert "a/fout.md:7: afbeelding: afbeelding 'foto.png' heeft geen alt-tekst" in result.output


def test_open_case_file_refuses_what_the_route_could_be_asked(content_dir):
    put(content_dir / "a", "f.pdf", PDF)
    policy = FilePolicy()
    opened = open_case_file(content_dir, "a/case", "f.pdf", policy)
    opened.close()
    assert opened.size == len(PDF) and opened.kind.media_type == "application/pdf"
    for name in ["../a/f.pdf", "./f.pdf", "a//f.pdf", "/f.pdf", "f.pdf/", "f.pdf\x00", "..\\f.pdf", "%2e%2e/f.pdf"]:
        with pytest.raises(FileRefused):
            open_case_file(content_dir, "a/case", name, policy).close()


def test_clean_relative_paths():
    assert clean_relative("bijlagen/factsheet.pdf") == "bijlagen/factsheet.pdf"
    for bad in ["", "/x.pdf", "../x.pdf", "a/./x.pdf", "a//x.pdf", "a\\x.pdf", "C:x.pdf", ".x.pdf", "a/.git/x",
                "x.pdf\n", "https://example.org/x.pdf"]:
        assert clean_relative(bad) is None, bad


def test_sizes_in_dutch():
    assert [format_size(n) for n in (0, 1, 999, 1000, 340_000, 999_499, 999_500, 1_234_567, 20_000_000,
                                     123_456_789)] == [
        "0 bytes", "1 byte", "999 bytes", "1 kB", "340 kB", "999 kB", "1,0 MB", "1,2 MB", "20,0 MB", "123 MB"]


def test_image_sizes_from_headers():
    assert image_size(TYPES["png"], png(640, 480)) == (640, 480)
    assert image_size(TYPES["jpg"], jpeg_header(1200, 800)) == (1200, 800)
    assert image_size(TYPES["gif"], b"GIF89a" + (300).to_bytes(2, "little") + (200).to_bytes(2, "little")) == (300, 200)
    vp8x = b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x0a\x00\x00\x00" + b"\x00" * 4 + (799).to_bytes(3, "little") + \
        (599).to_bytes(3, "little")
    assert image_size(TYPES["webp"], vp8x) == (800, 600)
    assert image_size(TYPES["jpg"], b"\xff\xd8\xff\xe0\x00") is None  # cut short: no size, no error


def test_body_images_are_found_in_linear_time():
    body = "![" * 20000 + "\n" + "![a](" * 20000 + "\n![a](" + " " * 50000 + "b c)\n![Goed](x.png)"
    assert [i.src for i in body_images(body)] == ["b c", "x.png"]


def test_attachment_settings():
    assert Settings.from_env({}).attachment_types == ATTACHMENT_TYPES
    assert Settings.from_env({"WIJKWIJZER_ATTACHMENT_TYPES": "PDF, .png"}).attachment_types == ("pdf", "png")
    assert Settings.from_env({"WIJKWIJZER_ATTACHMENT_MAX_MB": "2.5"}).attachment_max_mb == 2.5
    with pytest.raises(SettingsError, match="WIJKWIJZER_ATTACHMENT_TYPES='pdf,svg': unknown type 'svg'"):
        Settings.from_env({"WIJKWIJZER_ATTACHMENT_TYPES": "pdf,svg"})
    with pytest.raises(SettingsError, match="WIJKWIJZER_ATTACHMENT_MAX_MB=0: expected a number above 0"):
        Settings.from_env({"WIJKWIJZER_ATTACHMENT_MAX_MB": "0"})


def test_the_sample_factsheet_is_a_real_pdf():
    from pypdf import PdfReader

    assert "Afsprakenkader warme verwijzing" in PdfReader(SAMPLE_PDF).pages[0].extract_text()
