"""Search benchmark: index time, update latency, keyword and hybrid query latency, embedding throughput, memory.

Generates N synthetic Dutch case studies from the sentences of the sample content, with random metadata.
Run through `scripts/bench_search [--docs 1000 10000] [--queries 200] [--no-semantic]`.

Embedding throughput is measured on passages of the sample content, in fp32 and int8 on the CPU (and on CUDA
when torch sees a GPU), each beside its nDCG@10 on the dev set. For hybrid latency at N documents the synthetic
passages get vectors mixed from real ones (embedding 10,000 documents would take hours on 2 cores); the query
is embedded for real on every request.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import statistics
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml
from werkzeug.serving import WSGIRequestHandler, make_server

from wijkwijzer import create_app
from wijkwijzer.config import Settings
from wijkwijzer.domain.taxonomy import load_taxonomy
from wijkwijzer.search.models import SearchRequest
from wijkwijzer.search.passages import split_passages
from wijkwijzer.services import Services, make_embedder
from wijkwijzer.text.dutch import dutch_lexicon

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "content"


def corpus_sentences() -> tuple[list[str], list[str]]:
    """Sentences and title words from the sample content."""
    sentences, titles = [], []
    for path in SAMPLE.rglob("*.md"):
        text = path.read_text(encoding="utf-8")
        _, head, body = text.split("---", 2)
        titles.append(yaml.safe_load(head)["title"])
        for block in body.split("\n\n"):
            block = block.strip()
            if block and not block.startswith(("#", "|", "-", "*", "1.")):
                sentences.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", block) if len(s.split()) > 4)
    return sentences, titles


def generate(folder: Path, n: int, seed: int = 7) -> None:
    """Write n synthetic case studies of 300-900 words into folder."""
    rng = random.Random(seed)
    sentences, titles = corpus_sentences()
    taxonomy, _ = load_taxonomy(SAMPLE)
    (folder / "_taxonomy.yml").write_text((SAMPLE / "_taxonomy.yml").read_text(encoding="utf-8"), encoding="utf-8")
    areas = list(taxonomy.focus_areas.values())
    for i in range(n):
        area = rng.choice(areas)
        words = rng.randint(300, 900)
        paragraphs, count = [], 0
        while count < words:
            para = " ".join(rng.choice(sentences) for _ in range(rng.randint(3, 6)))
            paragraphs.append(para)
            count += len(para.split())
        body = "\n\n".join(f"## {rng.choice(['Aanleiding', 'Aanpak', 'Resultaten', 'Lessen'])}\n\n{p}"
                           if j % 3 == 0 else p for j, p in enumerate(paragraphs))
        meta = {
            "title": f"{rng.choice(titles)} ({i})",
            "type": rng.choice(list(taxonomy.types)),
            "themes": rng.sample(list(taxonomy.themes), rng.randint(1, 3)),
            "action_lines": rng.sample(list(taxonomy.action_lines), 1),
            "focus_area": area.name,
            "municipality": area.municipality,
            "date": f"20{rng.randint(22, 26)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "evidence": rng.choice(list(taxonomy.evidence)),
            "tags": rng.sample(["schulden", "wonen", "jongeren", "school", "veiligheid", "gezondheid", "werk"], 3),
        }
        target = folder / area.key / f"synthetisch-{i:05d}.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---\n" + body + "\n",
                          encoding="utf-8")


def queries(n: int, seed: int = 11) -> list[str]:
    """n distinct realistic queries: 1-4 content words, some with typos."""
    rng = random.Random(seed)
    sentences, titles = corpus_sentences()
    vocab = sorted({w.lower() for s in sentences + titles for w in re.findall(r"[A-Za-zÀ-ÿ]{5,}", s)})
    out: set[str] = set()
    while len(out) < n:
        words = rng.sample(vocab, rng.randint(1, 4))
        if rng.random() < 0.1:
            w = words[0]
            k = rng.randrange(1, len(w) - 1)
            words[0] = w[:k] + w[k + 1:]
        out.add(" ".join(words))
    return sorted(out)


class QuietHandler(WSGIRequestHandler):
    """No access log lines between the figures."""

    def log_request(self, *args, **kwargs) -> None:
        pass


def percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"p50 {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms  max {ms[-1]:6.1f} ms"


def embedding_throughput(n_passages: int) -> dict[str, np.ndarray] | None:
    """Passages/s per precision and device, beside nDCG@10 of semantic search on the dev set.

    Returns the real fp32 vectors of the sample passages by hash (the material for synthetic vectors).
    """
    import torch
    from eval_search import eval_services, ranker

    from wijkwijzer.search.evaluation import evaluate, load_dev_set

    settings = Settings.from_env(base=ROOT)
    queries = load_dev_set(ROOT / "tests" / "eval" / "search_dev.yml")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"\n== embedding throughput (torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          f"{', GPU ' + torch.cuda.get_device_name(0) if 'cuda' in devices else ''})")
    sample_vectors = None
    for precision, device in [("fp32", d) for d in devices] + [("int8", "cpu")]:
        # Queries through the same model: this compares precisions (the ONNX query runtime: see hybrid).
        variant = replace(settings, embedding_precision=precision, device=device, query_runtime="torch")
        svc = eval_services(variant, SAMPLE)
        quality = evaluate(queries, ranker(svc, "semantic", None))["all"].ndcg
        passages = [p for case in svc.index.all_cases() for p in split_passages(case["slug"], case["title"],
                                                                                case["body"])]
        texts = [p.text for p in random.Random(5).sample(passages, min(n_passages, len(passages)))]
        embedder = svc.semantic.embedder
        embedder.embed(texts[:8], "passage")  # load the model and warm up outside the timing
        t0 = time.perf_counter()
        embedder.embed(texts, "passage")
        rate = len(texts) / (time.perf_counter() - t0)
        words = statistics.mean(len(t.split()) for t in texts)
        print(f"{precision} on {device:<5} {rate:7.1f} passages/s  nDCG@10 {quality:.3f}  "
              f"({len(texts)} passages, {words:.0f} words on average)")
        if precision == "fp32" and device == "cpu":
            sample_vectors = svc.semantic.cache.get(embedder.model_id, [p.hash for p in passages])
        svc.close()
    return sample_vectors


def synthetic_vectors(svc: Services, material: dict[str, np.ndarray], seed: int = 3) -> int:
    """Store vectors for every passage of the indexed (synthetic) documents: mixes of real passage vectors."""
    rng = np.random.default_rng(seed)
    base = np.stack(list(material.values()))
    passages = {p.hash: p for case in svc.index.all_cases()
                for p in split_passages(case["slug"], case["title"], case["body"])}
    mix = base[rng.integers(0, len(base), size=(len(passages), 2))].sum(axis=1)
    mix += rng.normal(0, 0.02, size=mix.shape)
    mix /= np.linalg.norm(mix, axis=1, keepdims=True)
    svc.semantic.cache.put(svc.semantic.embedder.model_id, dict(zip(passages, mix.astype(np.float32),
                                                                     strict=True)))
    return len(passages)


def bench(n: int, n_queries: int, material: dict[str, np.ndarray] | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix=f"ww-bench-{n}-") as tmp:
        tmp_path = Path(tmp)
        content, data = tmp_path / "content", tmp_path / "data"
        content.mkdir()
        t0 = time.perf_counter()
        generate(content, n)
        print(f"\n== {n} documents (generated in {time.perf_counter() - t0:.1f} s)")
        settings = Settings(content_dir=content, data_dir=data, watch_interval=0, secret_key="bench")
        svc = Services.build(settings)

        t0 = time.perf_counter()
        report = svc.sync(full=True)
        print(f"full index:            {time.perf_counter() - t0:7.2f} s  ({report.documents} docs, "
              f"{svc.knowledge.procs} processes)")

        # A running site has loaded the word list and answered searches before an editor saves a file.
        dutch_lexicon()
        svc.search(SearchRequest(text="wijk"))
        target = next(content.rglob("synthetisch-00000.md"))
        marker = "zonnebloemveldwerkplaats"
        t0 = time.perf_counter()
        target.write_text(target.read_text(encoding="utf-8") + f"\nNieuw: {marker}.\n", encoding="utf-8")
        svc.sync()
        assert svc.search(SearchRequest(text=marker)).total == 1
        print(f"one-file update:       {time.perf_counter() - t0:7.3f} s  (edit -> searchable)")

        qs = queries(n_queries)
        service_times = []
        svc.index.forget_postings()  # every query term is read again
        for q in qs:
            t0 = time.perf_counter()
            svc.hybrid.run(SearchRequest(text=q), "keyword")  # uncached: the answer cache is bypassed on purpose
            service_times.append(time.perf_counter() - t0)
        print(f"keyword, service:      {percentiles(service_times)}  (cold: every term read for the first time, "
              "no warm-up)")
        service_times = []
        for q in qs:
            t0 = time.perf_counter()
            svc.hybrid.run(SearchRequest(text=q, page=2), "keyword")  # no result cache, postings cached
            service_times.append(time.perf_counter() - t0)
        print(f"keyword, service:      {percentiles(service_times)}  (warm postings, no result cache)")
        svc.close()

        app = create_app(settings, watch=False)
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_port}"
        warmup = wait_for_warmup(app)
        for label, extra in ((f"new process, first pass after the postings warm-up ({warmup})", {}),
                             ("warm postings, no result cache", {"page": "2"})):
            http_times = []
            for q in qs:
                url = f"{base}/api/v1/search?" + urllib.parse.urlencode({"q": q, **extra})
                t0 = time.perf_counter()
                with urllib.request.urlopen(url, timeout=30) as response:
                    response.read()
                http_times.append(time.perf_counter() - t0)
            print(f"keyword, HTTP API:     {percentiles(http_times)}  ({label}; snippets on)")
        http_times = []
        for q in qs:
            url = f"{base}/zoeken?" + urllib.parse.urlencode({"q": q})
            t0 = time.perf_counter()
            with urllib.request.urlopen(url, timeout=30) as response:
                response.read()
            http_times.append(time.perf_counter() - t0)
        print(f"keyword, HTTP page:    {percentiles(http_times)}  (HTML page, same queries: result cache hit)")
        server.shutdown()
        app.extensions["wijkwijzer"].close()
        if material:
            hybrid_latency(settings, qs, material)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS):     {peak:7.0f} MiB  (this process, so far)")


def wait_for_warmup(app) -> str:
    """The postings warm-up of a new web process, timed on its own (the first search starts it)."""
    index = app.extensions["wijkwijzer"].index
    index.forget_postings()
    t0 = time.perf_counter()
    index.search(SearchRequest(text="wijk"))
    index.warmup.wait()
    return f"{time.perf_counter() - t0:.1f} s, {index._postings.postings:,} postings"


def hybrid_latency(settings: Settings, qs: list[str], material: dict[str, np.ndarray]) -> None:
    """Hybrid search over HTTP with the real model embedding each query (passage vectors synthetic), once per
    query runtime (PyTorch, ONNX Runtime), in the same run so the figures compare."""
    for runtime in ("torch", "onnx"):
        embedder, _ = make_embedder(replace(Settings.from_env(base=ROOT), query_runtime=runtime))
        svc = Services.build(settings, embedder=embedder, warm_postings=True)  # as a web process
        t0 = time.perf_counter()
        stored = synthetic_vectors(svc, material)
        svc.refresh_semantic()
        assert svc.semantic.ready
        print(f"semantic index:        {time.perf_counter() - t0:7.2f} s  ({stored} passages, vectors synthetic)")
        t0 = time.perf_counter()
        svc.semantic.search("wijk")
        print(f"model load:            {time.perf_counter() - t0:7.2f} s  (once, on the first semantic query)")
        app = create_app(settings, watch=False)
        app.extensions["wijkwijzer"].close()
        app.extensions["wijkwijzer"] = svc
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        # Three passes over the same queries; a new page each time, so no result comes from the cache.
        for label, page in (("new process, no warm-up: every term read on demand", "1"),
                            ("new process, first pass after the postings warm-up", "3"),
                            ("warm postings", "2")):
            if page == "1":
                svc.index.warm = False
                svc.index.forget_postings()
            elif page == "3":
                svc.index.warm = True
                label += f" ({wait_for_warmup(app)})"
            extra = {"page": page}
            svc.semantic._queries.clear()  # every query embedded in every pass
            times = []
            for q in qs:
                url = f"{base}/api/v1/search?" + urllib.parse.urlencode({"q": q, "mode": "hybrid", **extra})
                t0 = time.perf_counter()
                with urllib.request.urlopen(url, timeout=30) as response:
                    assert json.loads(response.read())["mode"] == "hybrid"
                times.append(time.perf_counter() - t0)
            print(f"hybrid, HTTP API:      {percentiles(times)}  (queries: {embedder.query_runtime}; {label}; every "
                  "query embedded, no result cache)")
        server.shutdown()
        svc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--passages", type=int, default=160, help="passages per throughput measurement")
    parser.add_argument("--no-semantic", action="store_true", help="keyword figures only")
    args = parser.parse_args()
    material = None
    if not args.no_semantic:
        if make_embedder(Settings.from_env(base=ROOT))[0] is None:
            raise SystemExit("het taalmodel is niet geïnstalleerd: voer eerst 'wijkwijzer model install' uit")
        material = embedding_throughput(args.passages)
    for n in args.docs:
        bench(n, args.queries, material)


if __name__ == "__main__":
    main()
