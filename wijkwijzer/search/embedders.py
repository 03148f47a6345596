"""Embedding models: the protocol semantic search and the matcher rely on, the sentence-transformers model
(lazily loaded, optionally int8, single queries through ONNX Runtime when exported), and a hashing stand-in for
tests."""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; queries and passages may use different prompts."""

    model_id: str

    def embed(self, texts: list[str], kind: str) -> np.ndarray:
        """Vectors for `texts`; `kind` is "query" or "passage"."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded lazily and once; batches sorted by length to waste less padding.

    Batches of 8: on 2 CPU cores, 96 sample passages (150 tokens on average) embed at 7.3/s in batches of 4-8,
    6.7/s in 16, 5.5/s in 32 and 4.6/s in 64 (larger activations fall out of the cache).
    """

    def __init__(self, model: str, model_id: str, device: str = "cpu", batch_size: int = 8,
                 precision: str = "fp32", query_runtime: str = "torch") -> None:
        self.model_path = model
        # Vectors of a quantised model differ a little: keep them apart in the vector cache.
        self.model_id = model_id if precision == "fp32" else f"{model_id}+{precision}"
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()
        # ONNX Runtime for single queries, when the model folder holds an encoder exported from these weights
        # (see onnx_query); passages, batches and every other case go through sentence-transformers.
        self._query_encoder = None
        if query_runtime == "onnx" and device == "cpu" and precision == "fp32":
            from wijkwijzer.search.onnx_query import OnnxQueryEncoder, encoder_path

            exported = encoder_path(Path(model)) if Path(model).is_dir() else None
            if exported is not None:
                try:
                    import onnxruntime  # noqa: F401
                except ImportError:
                    exported = None
            self._query_encoder = OnnxQueryEncoder(Path(model), exported) if exported else None

    def _load(self):
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                model = SentenceTransformer(self.model_path, device=self.device)
                self._model = quantise_int8(model) if self.precision == "int8" else model
            return self._model

    @property
    def query_runtime(self) -> str:
        """What embeds a single query: "onnx", or "torch-fp32" / "torch-int8" (the model's own precision)."""
        return "onnx" if self._query_encoder is not None else f"torch-{self.precision}"

    def embed(self, texts: list[str], kind: str) -> np.ndarray:
        """Normalised vectors, in the order of `texts`."""
        if kind == "query" and len(texts) == 1 and self._query_encoder is not None:
            return self._query_encoder.embed(texts[0])
        model = self._load()
        prompts = getattr(model, "prompts", {}) or {}
        prompt_name = kind if kind in prompts else None
        if len(texts) == 1 and kind == "query" and _prompt_pooled(model):
            return _embed_one(model, prompts.get("query", "") + texts[0])
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = model.encode(
            [texts[i] for i in order], prompt_name=prompt_name, batch_size=self.batch_size,
            normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False,
        ).astype(np.float32)
        out = np.empty_like(vectors)
        out[order] = vectors
        return out


def _prompt_pooled(model) -> bool:
    """True when pooling covers the prompt tokens too, so prepending the prompt ourselves changes nothing."""
    return all(getattr(module, "include_prompt", True) for module in model)


def _embed_one(model, text: str) -> np.ndarray:
    """One text through the model's modules, without encode()'s batching and bookkeeping: a search query is
    embedded on the request path, and that bookkeeping is a sixth of its time."""
    import torch

    prepare = getattr(model, "preprocess", None) or model.tokenize
    features = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in prepare([text]).items()}
    with torch.inference_mode():
        vector = model(features)["sentence_embedding"]
        vector = torch.nn.functional.normalize(vector, dim=-1)
    return vector.float().cpu().numpy()


def quantise_int8(model):
    """Dynamic int8 quantisation of the Linear layers, per output channel (per tensor loses more quality)."""
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        # torch.ao.quantization announces its move to torchao; the API still works in the pinned torch.
        warnings.simplefilter("ignore")
        return quantize_dynamic(model.to("cpu"), {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


class HashingEmbedder:
    """A fast stand-in for unit tests: bag of word hashes (no meaning, but deterministic and normalised)."""

    model_id = "hashing-test-embedder"

    def __init__(self, dimension: int = 256) -> None:
        self.dimension = dimension

    def embed(self, texts: list[str], kind: str) -> np.ndarray:
        """One vector per text."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest()[:8], 16) % self.dimension] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)
