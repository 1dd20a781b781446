"""Text: the tokenizer, text-csv / ag-news formats, text models, and a text study end to end."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orderlab.errors import OrderlabError
from orderlab.trainer.data import load_dataset
from orderlab.trainer.data.text import PAD, UNK, Vocabulary, encode, sequence_length, tokenize

TOPICS = Path(__file__).parent / "data" / "topics.csv"


def test_tokenizer_rules():
    assert tokenize("Don't STOP\\nbelieving, in 2024!") == ["don't", "stop", "believing", "in", "2024"]
    assert tokenize("e-mail: a.b@c") == ["e", "mail", "a", "b", "c"]
    assert tokenize("") == []


def test_vocabulary_built_on_train_only():
    train = [["b", "a", "a"], ["c", "b", "a"], ["once"]]
    v = Vocabulary.build(train, min_count=2)
    assert v.words == ["a", "b"] and v.size == 4          # 0 pad, 1 unknown, then by count
    x = encode([["a", "b", "zzz"], ["b"]], v, 4)
    assert x.tolist() == [[2, 3, UNK, PAD], [3, PAD, PAD, PAD]]
    assert Vocabulary.build([["x", "y", "y", "x"]], min_count=1).words == ["x", "y"]   # ties alphabetically
    assert sequence_length([["w"] * 3] * 10) == 8 and sequence_length([["w"] * 1000]) == 256


def test_text_csv_shipped_file():
    d = load_dataset(f"text-csv:{TOPICS}")
    assert d.kind == "text" and d.class_names == ["computers", "cooking", "sports"]
    assert len(d.y_train) == 48 and len(d.y_test) == 12                         # every 5th row is test
    assert d.x_train.dtype == np.int64 and d.x_train.shape[1] == d.x_test.shape[1]
    assert d.vocab_size > 20 and d.x_train.max() < d.vocab_size
    assert d.texts_train[0].startswith("The striker") and d.y_train[0] == 2
    # A word seen only in the test split is unknown to the vocabulary.
    train_words = {w for t in d.texts_train for w in tokenize(t)}
    toks = tokenize(d.texts_test[0])
    unseen = [i for i, w in enumerate(toks) if w not in train_words]
    assert unseen and all(d.x_test[0, i] == UNK for i in unseen)
    assert all(d.x_test[0, i] > UNK for i in range(len(toks)) if i not in unseen)
    thumbs = d.thumbnails("test")
    assert thumbs["text"][0] == d.texts_test[0]
    sub = load_dataset(f"text-csv:{TOPICS}", train_subset=12)
    assert np.bincount(sub.y_train).tolist() == [4, 4, 4] and len(sub.texts_train) == 12


def test_text_csv_split_column_folder_and_errors(tmp_path):
    (tmp_path / "s.csv").write_text("Text,Label,split\nred apple,1,train\ngreen pear,2,train\n"
                                    "red cherry,1,test\nyellow pear,2,test\n")
    d = load_dataset(f"text-csv:{tmp_path / 's.csv'}")
    assert d.class_names == ["1", "2"] and d.texts_test == ["red cherry", "yellow pear"]
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "train.csv").write_text("label,text\n10,a b\n9,c d\n")
    (folder / "test.csv").write_text("label,text\n9,a\n10,d\n")
    f = load_dataset(f"text-csv:{folder}")
    assert f.class_names == ["9", "10"] and f.y_train.tolist() == [1, 0]        # numeric labels sort as numbers
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(OrderlabError, match="'label' and 'text'"):
        load_dataset(f"text-csv:{tmp_path / 'bad.csv'}")
    with pytest.raises(OrderlabError, match="does not exist"):
        load_dataset(f"text-csv:{tmp_path / 'none.csv'}")


def test_ag_news_release_format(tmp_path):
    folder = tmp_path / "ag_news_csv"
    folder.mkdir()
    (folder / "train.csv").write_text('"3","Wall St. Bears Claw Back","Reuters - Short-sellers are seeing green."\n'
                                      '"2","Cup final","The home side won 2-1\\the late goal."\n'
                                      '"1","Talks resume","Leaders met on Monday."\n'
                                      '"4","New chip","A faster processor, says the maker."\n')
    (folder / "test.csv").write_text('"4","Chip news","The processor maker said"\n"2","Match","The goal"\n')
    d = load_dataset("ag-news", data_dir=tmp_path)
    assert d.class_names == ["World", "Sports", "Business", "Sci/Tech"]
    assert d.y_train.tolist() == [2, 1, 0, 3] and d.y_test.tolist() == [3, 1]
    assert d.texts_train[0] == "Wall St. Bears Claw Back Reuters - Short-sellers are seeing green."
    assert tokenize(d.texts_train[1])[-3:] == ["the", "late", "goal"]           # the release's \ escapes
    with pytest.raises(OrderlabError, match="--download"):
        load_dataset("ag-news", data_dir=tmp_path / "empty")
    # cut off mid-row (a quote left open): refused, not the rest of the file read as one text
    (folder / "test.csv").write_text('"4","Chip news","The processor maker said"\n"2","Match","The go')
    with pytest.raises(OrderlabError, match="test.csv ends inside a quoted field"):
        load_dataset("ag-news", data_dir=tmp_path)
    # a stray quote inside a field, as the lenient reader always took it, still loads
    (folder / "test.csv").write_text('"4","Chip "news" today","The maker said"\n"2","Match","The goal"\n')
    assert load_dataset("ag-news", data_dir=tmp_path).texts_test[0].startswith("Chip")
    (folder / "test.csv").write_text("")
    with pytest.raises(OrderlabError, match="test.csv holds no rows"):
        load_dataset("ag-news", data_dir=tmp_path)
    # the common Kaggle copy starts with a header row: read past it (it was refused with no fix)
    (folder / "test.csv").write_text('Class Index,Title,Description\n4,Chip news,The maker said\n2,Match,The goal\n')
    assert load_dataset("ag-news", data_dir=tmp_path).y_test.tolist() == [3, 1]
    # a damaged first row is no header: refused as the others are
    (folder / "test.csv").write_text('"x4","Chip news","The maker"\n"2","Match","The goal"\n')
    with pytest.raises(OrderlabError, match=r"row 1 is \['x4', 'Chip news', 'The maker'\]"):
        load_dataset("ag-news", data_dir=tmp_path)
    # any other row that is not the format names the fix
    (folder / "test.csv").write_text('"4","Chip news","The maker"\n"two","Match","The goal"\n')
    with pytest.raises(OrderlabError, match=r"row 2 is \['two', 'Match', 'The goal'\]; replace it with the original "
                                            r"release \(--download fetches it\)"):
        load_dataset("ag-news", data_dir=tmp_path)



def _train_text_csv(path):
    from typer.testing import CliRunner

    from orderlab.cli import app
    return CliRunner().invoke(app, ["train", "--arch", "text-bag", "--dataset", f"text-csv:{path}", "--seeds", "0",
                                    "--epochs", "1", "--quiet", "--study", "bad"])


@pytest.mark.parametrize("data,needles", [
    (b"\xff\xfe\x00garbage", ["byte 0xff at position 0"]),
    ("label,text\nfood,caf\u00e9 au lait\nfood,tea\n".encode("latin-1"), ["byte 0xe9", "line 2"]),
])
def test_text_csv_that_is_not_utf8_is_a_one_line_error_and_records_nothing(tmp_path, store_uri, data, needles):
    from conftest import assert_one_line_error
    from orderlab.store import Store
    (tmp_path / "enc.csv").write_bytes(data)
    assert_one_line_error(_train_text_csv(tmp_path / "enc.csv"), f"text-csv:{tmp_path / 'enc.csv'} is not UTF-8 text",
                          "save it as UTF-8", *needles)
    assert Store(store_uri).study_names() == []


def test_csv_encodings_folder_ag_news_and_byte_order_mark(tmp_path):
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "train.csv").write_text("label,text\na,x y\nb,z\n", encoding="utf-8")
    (tmp_path / "f" / "test.csv").write_text("label,text\na,caf\u00e9\n", encoding="latin-1")
    with pytest.raises(OrderlabError, match="test.csv is not UTF-8 text .byte 0xe9") as e:
        load_dataset(f"text-csv:{tmp_path / 'f'}")
    assert "\n" not in str(e.value)
    (tmp_path / "ag_news_csv").mkdir()
    (tmp_path / "ag_news_csv" / "train.csv").write_text('"1","Caf\u00e9","x"\n', encoding="latin-1")
    (tmp_path / "ag_news_csv" / "test.csv").write_text('"1","t","x"\n')
    with pytest.raises(OrderlabError, match="train.csv is not UTF-8 text .*save it as UTF-8"):
        load_dataset("ag-news", data_dir=tmp_path)
    # UTF-8 with a byte-order mark (what spreadsheets save as "CSV UTF-8") is UTF-8.
    (tmp_path / "bom.csv").write_text("label,text,split\na,caf\u00e9,train\nb,x,train\na,y,test\n",
                                      encoding="utf-8-sig")
    d = load_dataset(f"text-csv:{tmp_path / 'bom.csv'}")
    assert d.class_names == ["a", "b"] and d.texts_train == ["caf\u00e9", "x"]


def test_text_csv_refuses_test_labels_absent_from_training(tmp_path, store_uri):
    from conftest import assert_one_line_error
    from orderlab.store import Store
    (tmp_path / "s.csv").write_text("label,text,split\n1,red apple,train\n2,green pear,train\n"
                                    "1,red cherry,test\n3,blue plum,test\n")
    assert_one_line_error(_train_text_csv(tmp_path / "s.csv"), "test labels never seen in training ('3')",
                          "every test label must occur in training", "add training rows")
    assert Store(store_uri).study_names() == []
    folder = tmp_path / "f"                       # the train.csv/test.csv folder follows the same rule
    folder.mkdir()
    (folder / "train.csv").write_text("label,text\nb,a b\na,c d\n")
    (folder / "test.csv").write_text("label,text\nb,a\nz,d\nc,e\n")
    with pytest.raises(OrderlabError, match=r"never seen in training \('c', 'z'\)"):
        load_dataset(f"text-csv:{folder}")


def test_text_models_shapes_and_padding():
    torch = pytest.importorskip("torch")
    from orderlab.trainer.models import get_arch
    x = torch.tensor([[5, 6, 7, 0, 0, 0], [2, 0, 0, 0, 0, 0]])
    for name in ("text-bag", "text-cnn"):
        spec = get_arch(name)
        assert spec.inputs == ("text",)
        torch.manual_seed(0)
        model = spec.build((6,), 3, vocab_size=10).eval()
        assert model(x).shape == (2, 3)
        with pytest.raises(OrderlabError, match="text dataset"):
            spec.build((6,), 3, vocab_size=0)
    torch.manual_seed(0)
    bag = get_arch("text-bag").build((6,), 3, vocab_size=10).eval()
    longer = torch.cat([x, torch.zeros(2, 4, dtype=torch.int64)], dim=1)
    assert torch.allclose(bag(x), bag(longer))                  # padding does not count in the mean


def test_text_study_end_to_end():
    from typer.testing import CliRunner

    from orderlab.cli import app
    from orderlab.store import Store
    from orderlab.studydata import load_stack
    res = CliRunner().invoke(app, ["train", "--arch", "text-bag", "--dataset", f"text-csv:{TOPICS}",
                                   "--seeds", "0-1", "--epochs", "15", "--lr", "0.02", "--study", "txt"])
    assert res.exit_code == 0, res.output
    store = Store()
    st = load_stack(store, "txt", "train")
    assert st.bits.shape[:2] == (2, 16) and st.n_examples == 48
    assert st.correct(-1).mean() > 0.6                          # learned well beyond chance (1/3)
    ex = store.load_examples("txt")
    assert ex["kind"] == "text" and str(ex["splits"]["test"]["text"][0]).startswith("The goalkeeper")
    # `orderlab examples` shows the texts (it gave ids only; the report alone showed texts)
    import json
    texts = {int(e): str(t) for e, t in zip(ex["splits"]["test"]["example_id"], ex["splits"]["test"]["text"])}
    rows = json.loads(CliRunner().invoke(app, ["examples", "txt", "--hardest", "3", "--json"]).stdout)
    assert len(rows) == 3 and all(r["text"] == texts[r["example_id"]] for r in rows)
    out = CliRunner().invoke(app, ["examples", "txt", "--hardest", "3"], env={"COLUMNS": "100"}).stdout
    assert "texts:" in out and all(" ".join(texts[r["example_id"]].split())[:40] in out for r in rows), out


def test_text_csv_rows_shorter_than_the_header_are_a_one_line_error(tmp_path, store_uri):
    from conftest import assert_one_line_error
    (tmp_path / "short.csv").write_text('text,label\n"red\napple",1\ngreen pear\n')
    assert_one_line_error(_train_text_csv(tmp_path / "short.csv"), "the row ending on line 4 has fewer fields than",
                          "give every row a label and a text")


@pytest.mark.parametrize("content, needles", [
    # an unquoted comma split the text: the rest was dropped without a word
    ('label,text\na,red apple\nb,green, ripe pear\n', ["the row ending on line 3 has more fields than the header",
                                                      "double quotes"]),
    ('label,text\na,red apple\n ,green pear\n', ["the row ending on line 3 has an empty label"]),
    ('label,text\na,\nb, \na,\nb,\na,\n', ["every text is empty"]),
    # a quote left open took the rest of the file as one text
    ('label,text\na,"red apple\nb,green pear\na,plum\n', ["not valid CSV in the row starting on line 2",
                                                          "unexpected end of data", "close every double quote"]),
    ('label,text\na,plum\n\n\nb,"it said "hi" here"\n', ["not valid CSV in the row starting on line 5"]),
    ('"label,text\na,plum\n', ["not valid CSV in its header"]),
])
def test_malformed_text_csv_is_named_not_read_silently(tmp_path, store_uri, content, needles):
    from conftest import assert_one_line_error
    (tmp_path / "bad.csv").write_text(content)
    assert_one_line_error(_train_text_csv(tmp_path / "bad.csv"), f"{tmp_path / 'bad.csv'}: ", *needles)


def test_text_csv_with_trailing_commas_and_long_texts_loads(tmp_path):
    """Spreadsheets end rows with an empty field; a text may be longer than csv's 128 KiB field
    limit: neither is an error."""
    rows = "".join(f"{'ab'[i % 2]},{'word ' * (30000 if i == 0 else 3)}{i},\n" for i in range(10))
    (tmp_path / "t.csv").write_text("label,text,\n" + rows)
    d = load_dataset(f"text-csv:{tmp_path / 't.csv'}")
    assert d.n_classes == 2 and len(d.y_train) + len(d.y_test) == 10


def test_a_failed_ag_news_download_leaves_no_folder_or_part_file(tmp_path, monkeypatch):
    import urllib.request

    def offline(url, dest):
        open(dest, "w").write("partial")            # a transfer cut short
        raise OSError("Name or service not known")
    monkeypatch.setattr(urllib.request, "urlretrieve", offline)
    with pytest.raises(OrderlabError, match="could not download AG News"):
        load_dataset("ag-news", data_dir=tmp_path / "data", download=True)
    assert not (tmp_path / "data").exists()


def test_a_text_bag_ensemble_prints_no_pytorch_warning(tmp_path):
    """vmap's note that embedding_bag with padding_idx has no batching rule (a message for PyTorch's
    developers, with its source line) came out among orderlab's own lines."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "orderlab.cli", "train", "--arch", "text-bag", "--dataset",
                        f"text-csv:{TOPICS}", "--seeds", "0-1", "--epochs", "1", "--ensemble", "2", "--study", "w",
                        "-q", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == "", r.stderr
