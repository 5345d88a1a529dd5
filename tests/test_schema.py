import json

import pytest

from camreasoner.data.schema import DataError, Item, read_items, resolve_video, write_items
from tests.conftest import make_item


def test_round_trip_keeps_extra_fields(tmp_path):
    items = [make_item(), make_item(id="x2", answer="A", extra={"difficulty": 3})]
    write_items(tmp_path / "a.jsonl", items)
    back = read_items(tmp_path / "a.jsonl")
    assert back == items
    assert json.loads((tmp_path / "a.jsonl").read_text().splitlines()[1])["difficulty"] == 3


@pytest.mark.parametrize("kw,field,msg", [
    ({"answer": "C"}, "answer", "not one of the option letters"),
    ({"options": ["A. No", "C. Yes"]}, "options", "expected 'B'"),
    ({"options": ["No", "Yes"]}, "options", "not of the form"),
    ({"video": "/abs/x.mp4"}, "video", "relative to the video root"),
    ({"video": "../x.mp4"}, "video", "escapes the video root"),
    ({"video": "a/../../x.mp4"}, "video", "escapes the video root"),
    ({"video": "https://x/y.mp4"}, "video", "relative"),
    ({"question": " "}, "question", "non-empty"),
    ({"role": "pos_video.pos_question"}, "pair_id", "together"),
    ({"role": "sideways", "pair_id": "p"}, "role", "not one of"),
])
def test_validation_names_item_and_field(kw, field, msg):
    with pytest.raises(DataError, match=msg) as e:
        make_item(**kw).validate(where="f.jsonl:3")
    assert e.value.field == field
    assert "item 'x1'" in str(e.value) and f"field '{field}'" in str(e.value)
    assert "f.jsonl:3" in str(e.value)


def test_open_ended_items_take_free_text_answers():
    make_item(options=[], answer="The camera pans left slowly.").validate()


def test_read_items_reports_line_of_bad_json_and_missing_field(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps(make_item().to_dict()) + "\n{not json\n")
    with pytest.raises(DataError, match=r"bad.jsonl:2"):
        read_items(p)
    d = make_item().to_dict()
    del d["answer"]
    p.write_text(json.dumps(d) + "\n")
    with pytest.raises(DataError, match=r"item 'x1': field 'answer': missing"):
        read_items(p)


def test_duplicate_ids_are_an_error(tmp_path):
    p = tmp_path / "dup.jsonl"
    p.write_text((json.dumps(make_item().to_dict()) + "\n") * 2)
    with pytest.raises(DataError, match="duplicate id"):
        read_items(p)


def test_resolve_video_refuses_symlink_escape(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside.mp4").write_bytes(b"x")
    (root / "link.mp4").symlink_to(tmp_path / "outside.mp4")
    with pytest.raises(DataError, match="outside the video root"):
        resolve_video(root, "link.mp4")
    assert resolve_video(root, "sub/a.mp4") == (root / "sub" / "a.mp4").resolve()


def test_from_dict_rejects_non_objects():
    with pytest.raises(DataError, match="expected a JSON object"):
        Item.from_dict(["not", "a", "dict"])
