"""The relevance floor of semantic search: how well a document must match a query, by meaning, to count as found.

Cosine similarities of one model are not comparable across documents: multilingual-e5 gives every pair of texts
0.7-0.9, and a long, general passage scores high against any query (a "hub"). A fixed number (Meilisearch's
`rankingScoreThreshold`) or a fixed top-k cannot tell "related" from "what this document always scores".

So the floor is calibrated on data, per model and per collection:

1. Calibration queries (`calibration_queries`): Dutch and English questions on subjects the knowledge base never
   covers (cooking, sports, astronomy, ...) and nonsense strings drawn from a fixed seed. They are held here, not
   in the dev set, and embedded once per model when the model is installed (`wijkwijzer model install`,
   `model_build.build_e5_small`): the vectors are stored in the model's folder (`wijkwijzer-floor/`, with a JSON
   note of the model, the weights and the query set they belong to). A model without them (another
   WIJKWIJZER_EMBEDDING_MODEL, an older install) gets them on its first index update, stored there when the
   folder is writable.
2. Whenever the collection changes, those unrelated queries are scored against every document (best passage,
   as a real query is): for each document the mean and spread of what unrelated queries score on it.
3. A query's evidence for a document is its score in that document's null distribution, in standard deviations
   (a z-score): "how much better than an unrelated query does this query match this document". A hub document
   has a high null mean and needs a higher cosine; a specific one needs less.
   The null is kept per language of the query (`query_language`): an English query scores lower on Dutch
   text across the board, and measured against the Dutch null its real answers would fall below the floor.
4. The floor is the (1 - FALSE_ADMISSION) quantile, over the calibration queries, of the *highest* evidence each
   reaches on any document, each computed leave-one-out (the query's own score not in the null it is measured
   against). Taking the maximum over documents controls the error per query, not per document: at most about one
   unrelated query in twenty admits any document by meaning alone, however large the collection.
5. The keyword side gets a floor the same way (`keyword_floor`): a keyword match counts as evidence when the
   document holds at least the share of the query (its words weighed by rarity, a word no document has weighing
   most: `Match.coverage`) that only one unrelated calibration query in twenty reaches on any document. One
   common word ("wijk", "lang") shared with a question about something else is then no answer.

Relative evidence, measured and not used: scoring a document against the query's own distribution over the
collection (its median or a low quantile taken as "unrelated" background) assumes most documents are unrelated to
the query. In a collection on one subject that fails: an in-domain question lifts every document. On the sample
content it kept 65 % of the judged-relevant documents against 93 % for the per-document null above, and turned
away no more unrelated queries. The per-document null is already relative evidence, against the right reference.

Lexical grounding, measured and not used: a stricter floor for Dutch queries with a word no document holds,
calibrated on public-sector questions the collection lacks. Paraphrases hold such words as often as questions on
absent subjects do, and score no higher by meaning; it cost paraphrase queries half their nDCG to turn away half the
unrelated questions still admitted (figures in the README, "Relevance floor").

Also measured and not used (README, "Relevance floor"): a lower FALSE_ADMISSION, a null with questions on
neighbouring public-sector subjects, those texts as decoy documents competing with the collection, query-level
out-of-domain statistics (z-score against a neutral corpus, gaps, centroid similarity) and agreement with each
document's summary. Questions on subjects next to the collection's score as high, against every reference, as
paraphrased questions about it; `scripts/eval_search --explain` shows the figures.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
FALSE_ADMISSION = 0.05  # share of unrelated queries allowed to admit some document, on either side
CALIBRATION_VERSION = 1
FOLDER = "wijkwijzer-floor"

OFF_TOPIC_NL = (
    # Dutch questions and phrases on subjects a knowledge base on neighbourhood policy never covers.
    "recept voor een plaatcake met citroen", "hoe lang moet een zachtgekookt ei koken",
    "uitslag van de wedstrijd Ajax tegen Feyenoord", "wie won de Tour de France in 1989",
    "hoe vervang ik de ketting van mijn racefiets", "welke olie moet er in een dieselmotor",
    "wat is de hoofdstad van Australië", "hoeveel manen heeft Jupiter", "hoe ontstaat een zwart gat in het heelal",
    "Windows update blijft hangen op 35 procent", "wachtwoord van mijn wifi-router vergeten",
    "beste objectief voor vogelfotografie", "wanneer moet je tulpenbollen planten",
    "mijn kat eet niet en slaapt de hele dag", "goedkope vliegtickets naar Barcelona in mei",
    "openingstijden van het Rijksmuseum op zondag", "akkoorden van een bekend liedje op gitaar",
    "wie schreef De ontdekking van de hemel", "wanneer begon de Tachtigjarige Oorlog",
    "hoe brei je een sjaal met een kabelpatroon", "welke wijn past bij zalm", "koers van bitcoin vandaag",
    "hoe maak je zuurdesembrood", "weersverwachting voor het weekend aan zee", "regels van het kaartspel klaverjassen",
    "hoe bereken je de oppervlakte van een cirkel", "welke dinosaurus had de langste nek",
    "tips tegen een verstopte neus bij verkoudheid", "hoe zet ik een parketvloer in de olie",
    "schaakopening met het damegambiet", "hoeveel calorieën zitten er in een banaan", "waarom is de lucht blauw",
    "het beste merk stofzuiger voor huisdierharen", "hoe leer ik mijn hond aan de lijn lopen",
    "de snelste route naar Parijs met de auto", "wat betekent een oranje lampje op het dashboard",
    "kamperen in de Ardennen met een tent", "songtekst van het Wilhelmus uit het hoofd leren",
    "recept voor erwtensoep met rookworst", "hoe snoei je een vijgenboom", "welke planeet staat het dichtst bij de zon",
    "hoe kies je de juiste maat hardloopschoenen", "wat is het verschil tussen een krokodil en een alligator",
    "wie schilderde het Meisje met de parel", "hoe ontkalk ik mijn koffiezetapparaat",
    "de regels van handbal voor beginners", "vulkaanuitbarsting op IJsland livebeelden",
    "hoe speel je een barréakkoord op de gitaar", "welke vissen kunnen samen in een aquarium",
    "hoe lang duurt een vlucht naar Tokio", "beste instellingen voor een spelcomputer",
    "oefeningen voor een sterke rug in de sportschool", "welke kaas past bij een rode wijn",
    "geschiedenis van de Romeinen in Nijmegen", "hoe repareer je een lekkende kraan",
    "de mooiste wandelroutes op de Veluwe", "wat eet een egel in de winter", "uitleg van de relativiteitstheorie",
    "hoe maak je een goede risotto", "welke smartphone heeft de beste camera",
    "formule 1 kwalificatie uitslag zaterdag", "hoe verzorg je een orchidee",
)
OFF_TOPIC_EN = (
    # The same kind of subjects in English. Multilingual-e5 scores English queries some 0.04 lower against Dutch
    # text than Dutch ones, more than the spread of a document's null: English needs a null of its own.
    "how to bake chocolate chip cookies", "who won the football world cup in 2010",
    "best hiking trails in the Swiss Alps", "how to fix a flat bicycle tyre",
    "what is the distance from the earth to the moon", "python list comprehension syntax",
    "cheap hotels near the Eiffel tower", "how do I train a puppy to sit", "symptoms of a cold in cats",
    "how to tune a guitar by ear", "best pizza dough recipe", "when did the Roman empire fall",
    "how many moons does Saturn have", "what wine goes well with salmon", "how to change the oil in a car",
    "the rules of cricket explained", "how long should I boil an egg", "which planet is the hottest",
    "how to knit a scarf for beginners", "best camera lens for bird photography", "why is the sky blue",
    "how to remove a red wine stain from a carpet", "what is the capital of Canada",
    "how to grow tomatoes on a balcony", "who painted the Mona Lisa", "how does a black hole form",
    "the history of the Olympic games", "how to make a paper airplane", "what do hedgehogs eat in winter",
    "how to replace a bicycle chain", "best exercises for a strong back", "how to play chess openings",
    "when is the best time to plant tulip bulbs", "how to clean a coffee machine with vinegar",
    "the fastest route from London to Edinburgh", "what causes a volcano to erupt",
    "how to set up a home wifi router", "which dinosaur had the longest neck", "how to make fresh pasta at home",
    "tips for running a first marathon",
)
NONSENSE_SEED = 1409
NONSENSE_COUNT = 48


def nonsense(count: int = NONSENSE_COUNT, seed: int = NONSENSE_SEED) -> list[str]:
    """Strings that mean nothing, drawn reproducibly: random letters, and pronounceable non-words (one to three),
    so both keyboard noise and words that merely look Dutch are in the null distribution."""
    rng = random.Random(seed)
    consonants, vowels = "bdfghjklmnprstvwz", "aeiou"
    out = []
    for i in range(count):
        if i % 2:
            out.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 10))))
        else:
            out.append(" ".join(
                "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(2, 4)))
                + rng.choice(consonants) for _ in range(rng.randint(1, 3))))
    return out


def calibration_queries() -> list[str]:
    """The unrelated queries the floor is calibrated on (never the dev set): Dutch, then English, then nonsense."""
    return [*OFF_TOPIC_NL, *OFF_TOPIC_EN, *nonsense()]


def calibration_languages() -> list[str]:
    """The null each calibration query belongs to, in the order of `calibration_queries`: nonsense has no
    language and scores as Dutch does, so it joins the Dutch null."""
    return ["nl"] * len(OFF_TOPIC_NL) + ["en"] * len(OFF_TOPIC_EN) + ["nl"] * len(nonsense())


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that are English and not Dutch (so not "in", "is", "we", "me"): a query with more of these than Dutch
# function words is measured against the English null.
ENGLISH = _words("""the of to and for with from by into about between how what which who whom why when where
does did do are was were be been being their there they them our your you this that these those not more less
get getting without within through after before can could should would will""")
DUTCH = _words("""de het een en van voor met naar bij uit op aan door over om te zijn hoe wat wie waarom wanneer
waar die dat deze niet meer minder geen ook als er""")


def query_language(text: str) -> str:
    """ "en" for a query in English, else "nl" (the null of Dutch and of nonsense)."""
    words = re.findall(r"[a-z]+", text.lower())
    english = sum(word in ENGLISH for word in words)
    return "en" if english and english > sum(word in DUTCH for word in words) else "nl"


def _digest(queries: list[str]) -> str:
    return hashlib.sha256(json.dumps([CALIBRATION_VERSION, queries]).encode()).hexdigest()[:16]


def _weights(model_dir: Path) -> str:
    """What identifies the weights the vectors came from: size and time of the weights file(s)."""
    files = sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("*.bin"))
    return ";".join(f"{f.name}:{f.stat().st_size}:{int(f.stat().st_mtime)}" for f in files)


def _stem(model_id: str) -> str:
    return re.sub(r"[^\w.+-]+", "_", model_id)[:120]


def load(model_dir: Path, model_id: str) -> np.ndarray | None:
    """The stored calibration vectors of this model, or None when missing or made for other weights or queries."""
    folder = Path(model_dir) / FOLDER
    try:
        note = json.loads((folder / f"{_stem(model_id)}.json").read_text(encoding="utf-8"))
        if (note.get("model") != model_id or note.get("queries") != _digest(calibration_queries())
                or note.get("weights") != _weights(Path(model_dir))):
            return None
        vectors = np.load(folder / f"{_stem(model_id)}.npy", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if vectors.ndim != 2 or len(vectors) != note.get("count"):
        return None
    return vectors.astype(np.float32)


def save(model_dir: Path, model_id: str, vectors: np.ndarray) -> Path:
    """Store calibration vectors in the model folder: vectors first, then the note that vouches for them, each
    written to a temporary file and renamed, so a reader sees the old pair or the new one."""
    folder = Path(model_dir) / FOLDER
    folder.mkdir(exist_ok=True)
    stem = _stem(model_id)
    note = {"model": model_id, "queries": _digest(calibration_queries()), "weights": _weights(Path(model_dir)),
            "count": len(vectors), "dimension": int(vectors.shape[1]), "version": CALIBRATION_VERSION,
            "false_admission": FALSE_ADMISSION}
    for name, write in ((f"{stem}.npy", lambda fh: np.save(fh, vectors.astype(np.float32), allow_pickle=False)),
                        (f"{stem}.json", lambda fh: fh.write(json.dumps(note, indent=2).encode()))):
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
            os.replace(tmp, folder / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return folder / f"{stem}.json"


def calibrate(model_dir: Path, embedder) -> np.ndarray:
    """Embed the calibration queries with `embedder` (the model in `model_dir`) and store them there."""
    vectors = np.asarray(embedder.embed(calibration_queries(), "query"), dtype=np.float32)
    save(model_dir, embedder.model_id, vectors)
    return vectors


def null_vectors(embedder) -> np.ndarray:
    """The calibration vectors for `embedder`: from its model folder when stored there, else embedded now (and
    stored when the folder is writable; a hub model or a read-only folder recomputes them per process)."""
    folder = getattr(embedder, "model_path", None)
    folder = Path(folder) if folder and Path(folder).is_dir() else None
    if folder is not None:
        stored = load(folder, embedder.model_id)
        if stored is not None:
            return stored
    vectors = np.asarray(embedder.embed(calibration_queries(), "query"), dtype=np.float32)
    if folder is not None:
        try:
            save(folder, embedder.model_id, vectors)
        except OSError as exc:
            log.warning("ijkvragen niet bij het model bewaard (%s); ze worden per proces opnieuw berekend", exc)
    return vectors


@dataclass(frozen=True)
class Floor:
    """Per document the null mean and spread of its best-passage score, and the floor on the standardised score."""

    mean: np.ndarray
    spread: np.ndarray
    threshold: float

    def evidence(self, scores: np.ndarray) -> np.ndarray:
        """Scores (per document) in standard deviations above what unrelated queries score on each document."""
        return (scores - self.mean) / self.spread

    def admits(self, scores: np.ndarray) -> np.ndarray:
        """True for documents whose evidence clears the floor."""
        return self.evidence(scores) > self.threshold


MIN_SPREAD = 1e-4  # a document every unrelated query scores alike (a stand-in embedder) still divides safely


def keyword_floor(coverages: list[float], false_admission: float = FALSE_ADMISSION) -> float:
    """The keyword floor from the best coverage each calibration query reaches on the collection (0 when it
    matches nothing): the (1 - false_admission) quantile."""
    # Below 1: a document with every word of the query is always an answer.
    return min(0.99, float(np.quantile(coverages, 1 - false_admission))) if coverages else 0.0


def fit_per_language(null: np.ndarray) -> dict[str, Floor]:
    """One floor per language of the calibration queries, from their rows of `null` (calibration x documents)."""
    languages = np.array(calibration_languages())
    if len(languages) != len(null):
        return {"nl": fit(null)}
    return {language: fit(null[languages == language]) for language in dict.fromkeys(languages.tolist())}


def fit(null: np.ndarray, false_admission: float = FALSE_ADMISSION) -> Floor:
    """The floor from `null`: best-passage scores of the calibration queries (rows) on the documents (columns)."""
    n, docs = null.shape
    if docs == 0 or n < 3:
        return Floor(np.zeros(docs, np.float32), np.ones(docs, np.float32), float("inf"))
    null = null.astype(np.float64)
    total, squares = null.sum(axis=0), (null ** 2).sum(axis=0)
    mean = total / n
    spread = np.maximum(np.sqrt(np.maximum(squares / n - mean ** 2, 0) * n / (n - 1)), MIN_SPREAD)
    # Leave-one-out: each calibration query measured against the null of the others, as a new query would be.
    loo_mean = (total - null) / (n - 1)
    loo_var = np.maximum((squares - null ** 2 - (n - 1) * loo_mean ** 2) / (n - 2), 0)
    loo = (null - loo_mean) / np.maximum(np.sqrt(loo_var), MIN_SPREAD)
    threshold = float(np.quantile(loo.max(axis=1), 1 - false_admission))
    return Floor(mean.astype(np.float32), spread.astype(np.float32), threshold)
