"""Text datasets and the tokenizer.

The tokenizer (documented in docs/paradigms.md, "Text"):

1. ``tokenize``: lower-case the text, turn the literal ``\\n`` / ``\\`` escapes of the AG News
   release into spaces, and keep the runs of letters and digits (an inner apostrophe stays:
   ``don't``). Everything else separates tokens.
2. ``Vocabulary.build``: built on the **train split only**. Id 0 is padding, id 1 stands for any
   unknown word; then the words seen at least ``min_count`` (2) times in train, most frequent
   first (ties alphabetically), at most ``max_size`` (20,000) of them.
3. ``encode``: every text becomes ``max_len`` ids, cut after ``max_len`` tokens and padded with 0.
   ``max_len`` is the 95th percentile of the train texts' token counts, between 8 and 256.

Datasets: ``ag-news`` (the public CSV release of Zhang et al. 2015: ``ag_news_csv/train.csv``,
``test.csv``, rows ``"class","title","description"`` with classes 1-4), ``text-csv:PATH`` (your own
CSV with a header naming a ``label`` and a ``text`` column) and ``docstrings`` (a real text corpus
available offline everywhere orderlab installs: docstrings of the public API of numpy, torch,
scikit-learn and matplotlib, labelled by library).
"""
from __future__ import annotations

import csv
import inspect
import io
import re
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orderlab.errors import OrderlabError, name_list
from orderlab.trainer.data import Dataset, LoadOptions, missing_data_error, register, tidy_failed_download

PAD, UNK = 0, 1
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(text: str) -> list[str]:
    text = text.lower().replace("\\n", " ").replace("\\", " ")
    return _TOKEN.findall(text)


@dataclass
class Vocabulary:
    words: list[str]                       # words[i] has id i + 2

    @classmethod
    def build(cls, token_lists: list[list[str]], max_size: int = 20000, min_count: int = 2) -> "Vocabulary":
        counts = Counter(t for toks in token_lists for t in toks)
        kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls(kept[:max_size])

    @property
    def size(self) -> int:
        return len(self.words) + 2

    def ids(self) -> dict[str, int]:
        return {w: i + 2 for i, w in enumerate(self.words)}


def sequence_length(token_lists: list[list[str]], lo: int = 8, hi: int = 256) -> int:
    lengths = [len(t) for t in token_lists] or [lo]
    return int(np.clip(np.ceil(np.percentile(lengths, 95)), lo, hi))


def encode(token_lists: list[list[str]], vocab: Vocabulary, max_len: int) -> np.ndarray:
    index = vocab.ids()
    out = np.zeros((len(token_lists), max_len), np.int64)
    for i, toks in enumerate(token_lists):
        ids = [index.get(t, UNK) for t in toks[:max_len]]
        out[i, :len(ids)] = ids
    return out


def text_dataset(name: str, texts_train: list[str], y_train: np.ndarray, texts_test: list[str],
                 y_test: np.ndarray, class_names: list[str], description: str = "") -> Dataset:
    """Tokenise both splits with a vocabulary of the train split (see the module docstring)."""
    tok_tr = [tokenize(t) for t in texts_train]
    tok_te = [tokenize(t) for t in texts_test]
    vocab = Vocabulary.build(tok_tr)
    max_len = sequence_length(tok_tr)
    return Dataset(name, "text", encode(tok_tr, vocab, max_len), np.asarray(y_train, np.int64),
                   encode(tok_te, vocab, max_len), np.asarray(y_test, np.int64), len(class_names),
                   class_names=list(class_names), vocab_size=vocab.size, texts_train=list(texts_train),
                   texts_test=list(texts_test),
                   description=description or f"{name}: vocabulary {vocab.size}, {max_len} tokens per text")


def default_root(opts: LoadOptions) -> Path:
    return opts.data_dir or Path("~/.cache/orderlab/data").expanduser()


# ----------------------------------------------------------------------------- AG News

AG_NEWS_CLASSES = ["World", "Sports", "Business", "Sci/Tech"]
# The public CSV release (Zhang, Zhao & LeCun 2015), as mirrored for torchtext.
AG_NEWS_URL = "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/{}.csv"


def _utf8_text(data: bytes, name: str) -> io.StringIO:
    """``data`` decoded as UTF-8 (a leading byte-order mark is dropped), ready for ``csv``; a one-line
    error naming the first bad byte, its line, and the fix otherwise."""
    try:
        return io.StringIO(data.decode("utf-8-sig"), newline="")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise OrderlabError(f"{name} is not UTF-8 text (byte 0x{data[e.start]:02x} at position {e.start}, "
                            f"line {line}); save it as UTF-8") from None


def read_ag_news_csv(path: Path) -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    try:
        data = path.read_bytes()
    except OSError as e:
        raise OrderlabError(f"cannot read {path} ({e.strerror or e}); replace it with the original file") from None
    # Every field of the release is quoted, so a file cut off mid-field holds an odd number of
    # quotes (the reader, lenient about stray quotes inside fields as the release may have them,
    # would take the rest as one text and say nothing).
    if data.count(b'"') % 2:
        raise OrderlabError(f"{path} ends inside a quoted field (cut off?); replace it with the original file")
    first = True
    for row in csv.reader(_utf8_text(data, str(path))):
        if not row:
            continue
        if first and len(row) >= 3 and row[0].strip().lower().startswith(("class", "label")):
            first = False       # a header row, as the common Kaggle copy has ("Class Index","Title",…),
            continue            # not any first row: a damaged one is refused as the others are
        first = False
        if len(row) < 2 or not row[0].strip().isdigit():
            raise OrderlabError(f"{path}: not the AG News CSV format (\"class\",\"title\",\"description\"); "
                                f"row {len(labels) + 1} is {row[:3]!r}; replace it with the original release "
                                f"(--download fetches it)")
        labels.append(int(row[0]) - 1)
        texts.append(" ".join(s.strip() for s in row[1:]))
    y = np.asarray(labels, np.int64)
    if len(y) == 0:
        raise OrderlabError(f"{path} holds no rows; replace it with the original file")
    if y.min() < 0 or y.max() > 3:
        raise OrderlabError(f"{path}: AG News classes must be 1-4 (found {int(y.min()) + 1}..{int(y.max()) + 1}); "
                            f"replace it with the original file")
    return texts, y


@register("ag-news", "AG News: 120k/7.6k news texts, 4 topics (CSV release; --data-dir or --download)")
def load_ag_news(opts: LoadOptions) -> Dataset:
    root = default_root(opts)
    candidates = [root / "ag_news_csv", root / "ag-news", root]
    folder = next((c for c in candidates if (c / "train.csv").exists() and (c / "test.csv").exists()), None)
    if folder is None:
        if not opts.download:
            raise missing_data_error("ag-news (ag_news_csv/train.csv and test.csv)", root)
        folder = root / "ag_news_csv"
        with tidy_failed_download(root):
            folder.mkdir(parents=True, exist_ok=True)
            for split in ("train", "test"):
                url = AG_NEWS_URL.format(split)
                tmp = folder / f".{split}.csv.part"
                try:
                    urllib.request.urlretrieve(url, tmp)
                    tmp.replace(folder / f"{split}.csv")
                except OSError as e:
                    tmp.unlink(missing_ok=True)
                    raise OrderlabError(f"could not download AG News from {url} ({e}); download ag_news_csv "
                                        f"by hand into {root}") from None
    t_tr, y_tr = read_ag_news_csv(folder / "train.csv")
    t_te, y_te = read_ag_news_csv(folder / "test.csv")
    return text_dataset("ag-news", t_tr, y_tr, t_te, y_te, AG_NEWS_CLASSES, "AG News topic classification")


# ----------------------------------------------------------------------------- your own CSV

def _read_labelled_csv(path: Path) -> tuple[list[str], list[str], list[str] | None]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise OrderlabError(f"cannot read {path}: {e.strerror}; give text-csv:PATH of a CSV file") from None
    # strict: a quote left open swallowed the rest of the file into one text, silently
    reader = csv.DictReader(_utf8_text(data, f"text-csv:{path}"), strict=True)
    rows = []
    ended = 0                       # the line the last row read ended on (0: before the header)
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(data)))     # a long text is no error (csv stops at 128 KiB)
    try:
        fields = {f.strip().lower(): f for f in (reader.fieldnames or [])}
        ended = reader.line_num
        if "label" not in fields or "text" not in fields:
            raise OrderlabError(f"{path}: needs a header with 'label' and 'text' columns (found "
                                f"{list(reader.fieldnames or [])}); add one as the first line")
        header = list(reader.fieldnames or [])
        for r in reader:
            # line_num: where the row ends (a quoted text may span lines)
            if r.get(fields["label"]) is None or r.get(fields["text"]) is None:   # csv's None: a field missing
                raise OrderlabError(f"{path}: the row ending on line {reader.line_num} has fewer fields than the "
                                    f"header ({header}); give every row a label and a text")
            if any(v.strip() for v in r.get(None) or []):   # DictReader's key for fields past the header's
                raise OrderlabError(f"{path}: the row ending on line {reader.line_num} has more fields than the "
                                    f"header ({header}); put a text that holds commas in double quotes")
            if not r[fields["label"]].strip():
                raise OrderlabError(f"{path}: the row ending on line {reader.line_num} has an empty label; give "
                                    f"every row its class")
            rows.append(r)
            ended = reader.line_num
    except csv.Error as e:
        # the bad row starts on the first line with content after the last good row (a quote left
        # open runs the row to the end of the file, where csv notices)
        lines = data.splitlines()
        start = next((i + 1 for i in range(ended, len(lines)) if lines[i].strip()), ended + 1)
        where = "in its header" if ended == 0 else f"in the row starting on line {start}"
        raise OrderlabError(f"{path}: not valid CSV {where} ({e}); close every double quote that opens a text, "
                            f"and double a quote inside one (\"\")") from None
    finally:
        csv.field_size_limit(limit)
    labels = [r[fields["label"]].strip() for r in rows]
    texts = [r[fields["text"]] or "" for r in rows]
    if texts and not any(t.strip() for t in texts):
        raise OrderlabError(f"{path}: every text is empty; the text column holds the examples to classify")
    splits = [(r[fields["split"]] or "").strip().lower() for r in rows] if "split" in fields else None
    return labels, texts, splits


def _label_names(values: list[str]) -> list[str]:
    uniq = set(values)
    try:  # numeric labels sort as numbers
        return sorted(uniq, key=lambda v: (float(v), v))
    except ValueError:
        return sorted(uniq)


@register("text-csv", "your CSV of texts: header with label and text columns (optional split column "
          "train/test, else every 5th row is test; or a folder with train.csv and test.csv)",
          takes_arg=True, arg_help="PATH")
def load_text_csv(opts: LoadOptions) -> Dataset:
    path = Path(str(opts.arg)).expanduser()
    if path.is_dir():
        if not ((path / "train.csv").exists() and (path / "test.csv").exists()):
            raise OrderlabError(f"{path} is a folder without train.csv and test.csv; give a CSV file or such a folder")
        l_tr, t_tr, _ = _read_labelled_csv(path / "train.csv")
        l_te, t_te, _ = _read_labelled_csv(path / "test.csv")
    elif path.exists():
        labels, texts, splits = _read_labelled_csv(path)
        if splits is not None:
            bad = sorted(set(splits) - {"train", "test"})
            if bad:
                raise OrderlabError(f"{path}: the split column holds {bad}; use train or test")
            is_test = np.array([s == "test" for s in splits])
        else:  # deterministic hold-out: every 5th row
            is_test = np.arange(len(labels)) % 5 == 4
        l_tr = [v for v, t in zip(labels, is_test) if not t]
        t_tr = [v for v, t in zip(texts, is_test) if not t]
        l_te = [v for v, t in zip(labels, is_test) if t]
        t_te = [v for v, t in zip(texts, is_test) if t]
    else:
        raise OrderlabError(f"text-csv: {path} does not exist; give the path of a CSV with label,text columns")
    if not l_tr or not l_te:
        raise OrderlabError(f"text-csv:{path} needs examples in both train and test (got {len(l_tr)} and {len(l_te)})")
    unseen = _label_names(set(l_te) - set(l_tr))
    if unseen:
        raise OrderlabError(f"text-csv:{path}: test labels never seen in training "
                            f"({name_list(list(map(repr, unseen)), 5)}); every test label "
                            f"must occur in training, so add training rows for them or drop those test rows")
    names = _label_names(l_tr)
    if len(names) < 2:
        raise OrderlabError(f"text-csv:{path} has a single label {names}; a classifier needs at least two")
    index = {n: i for i, n in enumerate(names)}
    return text_dataset("text-csv", t_tr, np.array([index[v] for v in l_tr]), t_te,
                        np.array([index[v] for v in l_te]), names, f"texts from {path}")


# ----------------------------------------------------------------------------- docstrings

# Public modules of orderlab's own dependencies, so the corpus exists wherever orderlab runs.
DOCSTRING_MODULES = {
    "numpy": ["numpy", "numpy.linalg", "numpy.random", "numpy.fft", "numpy.ma", "numpy.polynomial",
              "numpy.lib", "numpy.char", "numpy.testing"],
    "torch": ["torch", "torch.nn", "torch.nn.functional", "torch.linalg", "torch.fft", "torch.special",
              "torch.distributions", "torch.optim", "torch.utils.data", "torch.nn.init", "torch.autograd"],
    "scikit-learn": ["sklearn.linear_model", "sklearn.ensemble", "sklearn.svm", "sklearn.metrics",
                     "sklearn.preprocessing", "sklearn.cluster", "sklearn.decomposition",
                     "sklearn.model_selection", "sklearn.neighbors", "sklearn.tree", "sklearn.manifold",
                     "sklearn.feature_extraction.text", "sklearn.utils", "sklearn.datasets", "sklearn.pipeline",
                     "sklearn.impute", "sklearn.feature_selection", "sklearn.naive_bayes", "sklearn.mixture",
                     "sklearn.gaussian_process", "sklearn.covariance"],
    "matplotlib": ["matplotlib.pyplot", "matplotlib.colors", "matplotlib.ticker", "matplotlib.patches",
                   "matplotlib.axes", "matplotlib.figure", "matplotlib.text", "matplotlib.lines",
                   "matplotlib.collections", "matplotlib.transforms", "matplotlib.image", "matplotlib.dates",
                   "matplotlib.animation", "matplotlib.widgets", "matplotlib.path", "matplotlib.scale",
                   "matplotlib.legend", "matplotlib.artist", "matplotlib.markers", "matplotlib.contour"],
}


def _summary(obj, name: str) -> str | None:
    """The first paragraph of ``obj``'s docstring that is prose (not a call signature)."""
    try:
        doc = inspect.getdoc(obj)
    except Exception:  # noqa: BLE001 - some C objects raise on attribute access
        return None
    if not doc:
        return None
    for para in doc.strip().split("\n\n")[:3]:
        text = " ".join(para.split())
        if text.startswith(name + "(") or "->" in text[:80] or len(text.split()) < 5:
            continue
        return text[:600]
    return None


def docstring_corpus() -> tuple[list[str], list[int], list[str]]:
    import importlib
    texts: list[str] = []
    labels: list[int] = []
    names = list(DOCSTRING_MODULES)
    for label, (lib, modules) in enumerate(DOCSTRING_MODULES.items()):
        root = modules[0].split(".")[0]
        seen: set[str] = set()
        for m in modules:
            try:
                mod = importlib.import_module(m)
            except ImportError:
                continue
            for name in sorted(dir(mod)):
                if name.startswith("_"):
                    continue
                obj = getattr(mod, name, None)
                if not callable(obj):
                    continue
                objs = [(name, obj)]
                if inspect.isclass(obj):
                    objs += [(k, v) for k, v in sorted(vars(obj).items()) if not k.startswith("_") and callable(v)]
                for n, o in objs:
                    if not (getattr(o, "__module__", None) or "").startswith(root):
                        continue  # re-exported from elsewhere
                    s = _summary(o, n)
                    if s and s not in seen:
                        seen.add(s)
                        texts.append(s)
                        labels.append(label)
    return texts, labels, names


@register("docstrings", "real text offline: API docstrings of numpy, torch, scikit-learn, matplotlib, "
          "labelled by library (depends on their installed versions)")
def load_docstrings(opts: LoadOptions) -> Dataset:
    texts, labels, names = docstring_corpus()
    # Stable order (library, then text) and a deterministic every-5th hold-out.
    order = sorted(range(len(texts)), key=lambda i: (labels[i], texts[i]))
    texts = [texts[i] for i in order]
    y = np.asarray([labels[i] for i in order], np.int64)
    is_test = np.arange(len(y)) % 5 == 4
    return text_dataset("docstrings", [t for t, s in zip(texts, is_test) if not s], y[~is_test],
                        [t for t, s in zip(texts, is_test) if s], y[is_test], names,
                        "docstrings of numpy/torch/scikit-learn/matplotlib, labelled by library")
