"""Synthetic clips: physics of the rendered images, labels, determinism, items and chains, and
the geometric baseline."""

import itertools
import json

import numpy as np
import pytest

from camreasoner import answers, prompts, taxonomy
from camreasoner.synth.motions import binary_labels, camera_path
from camreasoner.synth.scene import make_scene, render
from camreasoner.taxonomy import parse_motion

SIZE = 160


def _measure(motion_text: str, seed: int = 3, speed: str = "regular"):
    """Track corners through the rendered frames, frame to frame (OpenCV LK, independent of the
    renderer; small steps so repetitive textures cannot alias), and split them by the surface
    they start on: near (objects) vs far (backdrop)."""
    import cv2

    motion = parse_motion(motion_text, speed)
    rng = np.random.default_rng(seed)
    surfaces = make_scene(rng, n_objects=4)
    poses = camera_path(motion, 12, SIZE, rng)
    first, ids = render(surfaces, poses[0], SIZE, SIZE, with_ids=True)
    grays = [cv2.cvtColor(first, cv2.COLOR_RGB2GRAY)] + [
        cv2.cvtColor(render(surfaces, p, SIZE, SIZE), cv2.COLOR_RGB2GRAY) for p in poses[1:]]
    pts = cv2.goodFeaturesToTrack(grays[0], 400, 0.01, 4)
    cur, ok = pts, np.ones(len(pts), bool)
    for g0, g1 in itertools.pairwise(grays):
        cur, st, _ = cv2.calcOpticalFlowPyrLK(g0, g1, cur, None, winSize=(15, 15), maxLevel=2)
        ok &= st.ravel() == 1
    p0, p1 = pts[ok].reshape(-1, 2), cur[ok].reshape(-1, 2)
    kind = np.array([surfaces[ids[int(y), int(x)]].kind if ids[int(y), int(x)] >= 0 else "sky"
                     for x, y in p0])
    c = np.array([SIZE / 2, SIZE / 2])

    def group(mask):
        a, b = p0[mask] - c, p1[mask] - c
        za, zb = a[:, 0] + 1j * a[:, 1], b[:, 0] + 1j * b[:, 1]
        zac, zbc = za - za.mean(), zb - zb.mean()
        sim = (np.conj(zac) * zbc).sum() / (np.abs(zac) ** 2).sum()
        flow = b - a
        return {"dx": float(np.median(flow[:, 0])), "dy": float(np.median(flow[:, 1])),
                "mag": float(np.median(np.linalg.norm(flow, axis=1))),
                "scale": float(abs(sim)), "angle": float(np.degrees(np.angle(sim))), "n": int(mask.sum())}

    return group(kind == "object"), group(kind == "backdrop"), poses


def test_pan_left_slides_scene_right_without_parallax():
    near, far, _ = _measure("Pan_Left")
    assert far["dx"] > 5 and near["dx"] > 5
    assert near["mag"] == pytest.approx(far["mag"], rel=0.15)


def test_truck_left_slides_scene_right_with_parallax():
    near, far, _ = _measure("Move_Left")
    assert far["dx"] > 0.5 and near["dx"] > 0.5
    assert near["mag"] > 1.5 * far["mag"]


def test_tilt_up_slides_scene_down_and_pedestal_has_parallax():
    near, far, _ = _measure("Tilt_Up")
    assert far["dy"] > 5 and near["mag"] == pytest.approx(far["mag"], rel=0.15)
    near, far, _ = _measure("Move_Up")
    assert far["dy"] > 0.3 and near["mag"] > 1.5 * far["mag"]


def test_dolly_in_expands_near_more_than_far_and_zoom_uniformly():
    near, far, _ = _measure("Move_In")
    assert near["scale"] > far["scale"] > 1.0
    assert near["scale"] - 1 > 2 * (far["scale"] - 1)
    near, far, _ = _measure("Zoom_In")
    assert far["scale"] > 1.3 and near["scale"] == pytest.approx(far["scale"], rel=0.03)


def test_roll_clockwise_turns_the_picture_counterclockwise():
    # v grows downward, so a negative angle is counterclockwise on screen.
    _, far, _ = _measure("Roll_Clockwise")
    assert far["angle"] == pytest.approx(-15.0, abs=1.5)
    _, far, _ = _measure("Roll_Counterclockwise")
    assert far["angle"] == pytest.approx(15.0, abs=1.5)


def test_static_does_not_move_and_shake_jitters():
    near, far, _ = _measure("Static")
    assert far["mag"] < 0.2 and near["mag"] < 0.2
    rng = np.random.default_rng(0)
    shake = camera_path(parse_motion("Shake"), 12, SIZE, rng)
    pan = camera_path(parse_motion("Pan_Left"), 12, SIZE, rng)

    def wobble(poses):
        fwd = np.array([p.rotation[:, 2] for p in poses])
        return float(np.abs(np.diff(fwd, 2, axis=0)).max())

    assert wobble(shake) > 20 * wobble(pan)


def test_labels_hand_checked():
    labels = binary_labels(parse_motion("Move_In+Pan_Right"))
    assert {k for k, v in labels.items() if v == "Yes"} == {"Move_In", "Pan_Right"}
    assert labels["Static"] == "No" and labels["Zoom_In"] == "No"
    assert binary_labels(parse_motion("Static"))["Static"] == "Yes"
    assert binary_labels(parse_motion("Shake"))["Static"] == "No"
    subtle = binary_labels(parse_motion("Pan_Left", "subtle"))
    assert subtle["Pan_Left"] is None and subtle["Static"] is None and subtle["Tilt_Up"] == "No"
    assert set(labels) == set(taxonomy.PRIMITIVE_NAMES)


@pytest.mark.parametrize("bad,msg", [("Pan_Sideways", "unknown motion"),
                                     ("Pan_Left+Pan_Right", "opposite"),
                                     ("Static+Pan_Left", "Static cannot")])
def test_bad_motions_are_rejected(bad, msg):
    with pytest.raises(ValueError, match=msg):
        parse_motion(bad)


def test_dolly_zoom_keeps_the_subject_size():
    motion = parse_motion("Move_In+Zoom_Out")
    assert motion.is_dolly_zoom
    poses = camera_path(motion, 8, SIZE, np.random.default_rng(0))
    # Image size of a thing at depth 6 is f / (6 - dz): constant.
    sizes = [p.focal / (6.0 - p.center[2]) for p in poses]
    assert max(sizes) == pytest.approx(min(sizes), rel=1e-9)
    assert poses[-1].focal < poses[0].focal


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory):
    from camreasoner.synth.build import build

    out = tmp_path_factory.mktemp("synth")
    motions = ["Pan_Left", "Pan_Right", "Tilt_Up", "Tilt_Down", "Zoom_In", "Zoom_Out",
               "Roll_Clockwise", "Roll_Counterclockwise", "Move_Left", "Move_Right", "Move_In",
               "Static", "Shake", "Move_Up", "Move_Out", "Move_Down"]
    build(out, clips=64, seed=7, size=SIZE, frames=12, fps=6, workers=2, motions=motions,
          progress=False)
    return out


def test_build_outputs_and_labels(synth_set):
    from camreasoner.data.schema import read_items
    from camreasoner.media.video import probe
    from camreasoner.synth.build import _motion_of, describe_motion

    manifest = [json.loads(x) for x in (synth_set / "manifest.jsonl").read_text().splitlines()]
    assert len(manifest) == 64
    info = probe(synth_set / "videos" / manifest[0]["video"], decode_all=True)
    assert (info.frames, info.width, info.height) == (12, SIZE, SIZE)
    assert len(manifest[0]["camera"]["focal"]) == 12
    binary = read_items(synth_set / "items_binary.jsonl")
    assert len(binary) == 64 * 15
    labels = {m["clip_id"]: m["labels"] for m in manifest}
    for it in binary:
        want = labels[it.id.split("/")[0]][it.task]
        assert it.answer == ("B" if want == "Yes" else "A")
    mc = read_items(synth_set / "items_mc.jsonl")
    assert len(mc) == 64 and all(len(i.options) == 6 for i in mc)
    by_clip = {m["clip_id"]: m for m in manifest}
    for it in mc:  # six different options, the clip's motion exactly once, at the answer
        texts = [o.split(". ", 1)[1] for o in it.options]
        truth = describe_motion(_motion_of(by_clip[it.id.split("/")[0]]))
        assert len(set(texts)) == 6, (it.id, texts)
        assert texts.count(truth) == 1 and it.options[ord(it.answer) - 65] == f"{it.answer}. {truth}"
    vqa = read_items(synth_set / "items_vqa.jsonl")
    assert vqa and len(vqa) % 4 == 0
    for it in vqa:  # a "pan left" question is Yes exactly on the pan-left clip
        assert (it.answer == "B") == (it.role in ("pos_video.pos_question",
                                                  "neg_video.neg_question"))


def test_chains_are_well_formed_and_agree_with_geometry(synth_set):
    from camreasoner.data.schema import read_items

    manifest = {m["clip_id"]: m for m in map(json.loads, (synth_set / "manifest.jsonl").open())}
    for it in read_items(synth_set / "items_mc.jsonl") + read_items(
            synth_set / "items_binary.jsonl")[:200]:
        resp = it.extra["response"]
        parsed = answers.parse_response(resp)
        assert parsed.well_formed, resp
        assert answers.extract_letter(resp, it.options) == it.answer
        motion = manifest[it.video[:-4]]["motion"]
        obs = parsed.observation.lower()
        if motion in ("Pan_Left", "Move_Left"):
            assert "right" in obs and "left" not in obs
        if motion in ("Pan_Right", "Move_Right"):
            assert "left" in obs and "right" not in obs
        if motion.startswith(("Pan_", "Tilt_")):
            assert "no parallax" in obs or "in unison" in obs or "same amount" in obs
        if motion in ("Move_Left", "Move_Right", "Move_Up", "Move_Down"):
            assert "parallax" in obs or "faster" in obs
        if motion == "Static":
            assert "no change" in obs or "nothing in the view moves" in obs
        if motion == "Zoom_In":
            assert ("expand" in obs or "grows" in obs) and "uniform" in obs


def test_short_chains_say_the_full_chains_cues_in_few_tokens(synth_set):
    from camreasoner.dev.tiny_model import TinyModelSpec, build_tokenizer
    from camreasoner.synth.build import items_for_clip

    tok = build_tokenizer(TinyModelSpec())
    records = [json.loads(x) for x in (synth_set / "manifest.jsonl").open()]
    lengths = []
    for rec in records:
        full_b, full_mc = items_for_clip(rec, 7)
        short_b, short_mc = items_for_clip(rec, 7, "short")
        assert [i.id for i in short_b + short_mc] == [i.id for i in full_b + full_mc]
        for full, short in zip(full_b + full_mc, short_b + short_mc, strict=True):
            resp = short.extra["response"]
            parsed = answers.parse_response(resp)
            assert parsed.well_formed, resp
            assert answers.extract_letter(resp, short.options) == short.answer == full.answer
            obs = parsed.observation
            full_obs = answers.parse_response(full.extra["response"]).observation
            for side in ("left", "right", "up", "down"):  # the same slides, the same way
                assert (f"slides {side}" in obs) == any(
                    w in full_obs for w in (f"to the {side}", f"{side}ward", f"toward the {side}",
                                            f"slides {side}", f"shift {side}")), (obs, full_obs)
            assert ("jitter" in obs) == ("jitter" in full_obs or "shakes" in full_obs)
            lengths.append(len(tok(resp)["input_ids"]))
    # the CPU presets' budgets: eval 160 new tokens, RL 96 completion tokens
    assert max(lengths) <= 64, max(lengths)


def test_mc_per_clip_redraws_the_options_and_keeps_the_first(synth_set):
    from camreasoner.synth.build import _motion_of, describe_motion, items_for_clip

    records = [json.loads(x) for x in (synth_set / "manifest.jsonl").open()]
    moved = 0
    for rec in records:
        binary, mc = items_for_clip(rec, 7, "short")
        binary3, mc3 = items_for_clip(rec, 7, "short", mc_per_clip=3)
        if not mc:  # a clip too slow for a which-movement item has none at any count
            assert not mc3
            continue
        single = mc[0]
        # the first item is the one a single item a clip is, and the binary chains do not move
        assert mc3[0] == single
        assert [b.extra["response"] for b in binary3] == [b.extra["response"] for b in binary]
        assert [i.id for i in mc3] == [single.id, single.id + "~1", single.id + "~2"]
        truth = describe_motion(_motion_of(rec))
        for it in mc3:  # each a valid item: the truth once, at its letter, which the chain says
            texts = [o.split(". ", 1)[1] for o in it.options]
            assert len(set(texts)) == 6 and texts.count(truth) == 1
            assert it.options[ord(it.answer) - 65] == f"{it.answer}. {truth}"
            assert answers.extract_letter(it.extra["response"], it.options) == it.answer
        moved += len({it.answer for it in mc3}) > 1
    # three draws of six letters keep one letter with probability (1/6)^2 = 1/36 a clip
    assert moved >= len(records) * 0.8, moved


def test_fixed_options_keep_a_movement_at_its_letter(synth_set):
    """mc_options "fixed": every item lists the same 25 options in one order (the taxonomy's
    single movements: A dolly in ... N zoom out, O static, P shaking, then the default mix's nine
    combinations, Q-Y), so each movement has one letter and the options' number tells nothing."""
    from camreasoner.synth.build import _motion_of, describe_motion, fixed_mc_texts, items_for_clip

    texts = fixed_mc_texts()
    assert len(texts) == len(set(texts)) == 25
    assert texts[:2] == ("dollies in", "dollies out") and texts[14:17] == (
        "static (no camera motion)", "shaking but not moving", "dollies in while panning right")
    assert texts[-1] == "zooms in while rolling clockwise"
    records = [json.loads(x) for x in (synth_set / "manifest.jsonl").open()]
    compound = {**records[0], "primitives": ["Move_In", "Pan_Right"], "motion": "Move_In+Pan_Right",
                "shake": False, "speed": "regular"}
    letter_of: dict[str, set[str]] = {}
    for rec in [*records, compound]:
        drawn_binary, drawn = items_for_clip(rec, 7, "short")
        binary, mc = items_for_clip(rec, 7, "short", mc_options="fixed")
        assert binary == drawn_binary  # the binary items and their chains do not move
        assert len(mc) == len(drawn)
        for it in mc:
            truth = describe_motion(_motion_of(rec))
            assert [o.split(". ", 1)[1] for o in it.options] == list(texts)
            assert it.options[ord(it.answer) - 65] == f"{it.answer}. {truth}"
            assert answers.extract_letter(it.extra["response"], it.options) == it.answer
            letter_of.setdefault(rec["motion"], set()).add(it.answer)
    assert letter_of["Move_In"] == {"A"} and letter_of["Static"] == {"O"}
    assert letter_of["Shake"] == {"P"} and letter_of["Zoom_Out"] == {"N"}
    assert letter_of["Move_In+Pan_Right"] == {"Q"}
    assert all(len(v) == 1 for v in letter_of.values()), letter_of
    # a combination outside the default mix has no fixed option: refused, naming the clip
    odd = {**compound, "primitives": ["Pan_Left", "Tilt_Up"], "motion": "Pan_Left+Tilt_Up"}
    with pytest.raises(ValueError, match="Pan_Left\\+Tilt_Up .*not among the fixed options"):
        items_for_clip(odd, 7, "short", mc_options="fixed")


def test_mc_options_reach_the_files_and_bad_ones_are_refused(tmp_path):
    from camreasoner.cli import main
    from camreasoner.data.schema import read_items
    from camreasoner.demo.config import DemoError, config_with, load_preset
    from camreasoner.synth.build import build, fixed_mc_texts

    summary = build(tmp_path / "f", clips=3, size=SIZE, frames=4, fps=2, progress=False,
                    mc_options="fixed")
    assert summary["mc_options"] == "fixed"
    for it in read_items(tmp_path / "f" / "items_mc.jsonl"):
        assert [o.split(". ", 1)[1] for o in it.options] == list(fixed_mc_texts())
    with pytest.raises(ValueError, match="unknown mc_options 'fix'; modes: drawn, fixed"):
        build(tmp_path, clips=1, mc_options="fix", progress=False)
    with pytest.raises(ValueError, match="mc_per_clip 2: fixed options give one item a clip"):
        build(tmp_path, clips=1, mc_options="fixed", mc_per_clip=2, progress=False)
    with pytest.raises(DemoError, match=r"^--set data.mc_options=fix: data.mc_options: 'fix' is"):
        config_with(load_preset("ci"), ["data.mc_options=fix"])
    with pytest.raises(DemoError, match=r"data.mc_per_clip: 2 with data.mc_options fixed"):
        config_with(load_preset("ci"), ["data.mc_options=fixed", "data.mc_per_clip=2"])
    assert main(["synth", "--out", str(tmp_path / "c"), "--clips", "1", "--mc-options", "fixed",
                 "--mc-per-clip", "2"]) == 2
    # a motion without a fixed option: refused before any clip is rendered
    with pytest.raises(ValueError, match="^motion Pan_Left\\+Tilt_Up: not among the fixed"):
        build(tmp_path / "odd", clips=1, motions=["Pan_Left+Tilt_Up"], mc_options="fixed",
              progress=False)
    assert not (tmp_path / "odd" / "videos").exists()
    assert main(["synth", "--out", str(tmp_path / "odd2"), "--clips", "1", "--mc-options",
                 "fixed", "--motions", "Pan_Left+Tilt_Up"]) == 2


def test_mc_per_clip_reaches_the_files_and_below_one_is_refused(tmp_path):
    from camreasoner.data.schema import read_items
    from camreasoner.demo.config import DemoError, config_from_dict, config_with, load_preset
    from camreasoner.synth.build import build

    one = build(tmp_path / "one", clips=3, size=SIZE, frames=4, fps=2, progress=False)
    two = build(tmp_path / "two", clips=3, size=SIZE, frames=4, fps=2, progress=False,
                mc_per_clip=2)
    assert two["items"]["mc"] == 2 * one["items"]["mc"] > 0
    assert len(read_items(tmp_path / "two" / "items_mc.jsonl")) == two["items"]["mc"]
    # every multiple-choice item is an SFT chain: the extra ones are trained on
    assert two["items"]["sft"] - one["items"]["sft"] == one["items"]["mc"]
    with pytest.raises(ValueError, match="mc_per_clip must be at least 1, got 0"):
        build(tmp_path, clips=1, mc_per_clip=0, progress=False)
    with pytest.raises(DemoError, match=r"^mine.yaml: data.mc_per_clip: at least 1, got 0$"):
        config_from_dict({"data": {"mc_per_clip": 0}}, "mine.yaml")
    with pytest.raises(DemoError, match=r"^--set data.mc_per_clip=0: data.mc_per_clip: at least"):
        config_with(load_preset("ci"), ["data.mc_per_clip=0"])


def test_short_chain_by_hand():
    import numpy as np

    from camreasoner.synth import ota
    from camreasoner.taxonomy import Motion

    cues = {"shift_x": -0.2, "shift_y": 0.0, "rotation_deg": 0.0, "expansion": 0.0,
            "near_expansion": 0.0, "far_expansion": 0.0, "shift_parallax": 0.05,
            "expansion_parallax": 0.0, "jitter": 0.0}
    assert ota.short_observation(cues) == "view slides left, no parallax"
    chain = ota.binary_chain(Motion(("Pan_Right",)), "Pan_Left", "No", cues,
                             np.random.default_rng(0), "A", "short")
    assert chain == ("<observation>view slides left, no parallax</observation><think>asked: pans "
                     "left; the camera pans right: No</think><answer>A</answer>")
    still = {**cues, "shift_x": 0.0, "shift_parallax": 0.0}
    assert ota.short_observation(still) == "view fixed"
    assert ota.short_observation({**still, "jitter": 0.05}) == "jitter, no drift"


def test_chain_styles_agree_with_the_demo_config():
    import typing

    from camreasoner.demo.config import ChainStyle
    from camreasoner.synth.ota import CHAIN_STYLES

    assert typing.get_args(ChainStyle) == CHAIN_STYLES


def test_sft_and_rl_files(synth_set):
    from camreasoner.data import readers
    from camreasoner.data.convert import read_verl_parquet

    sft = readers.read_sharegpt(synth_set / "sft.json")
    info = json.loads((synth_set / "dataset_info.json").read_text())
    assert info["synthetic_ota"]["file_name"] == "sft.json"
    assert len(sft) == 64 + 64 * 2  # every MC item and 2 binary items a clip
    assert sum(i.answer == "B" for i in sft if len(i.options) == 2) >= 50  # Yes is kept
    rl = read_verl_parquet(synth_set / "rl.parquet", synth_set / "videos")
    assert [i.id for i in rl] == [i.id for i in sft]
    caps = json.loads((synth_set / "sft_caption.json").read_text())
    assert info["synthetic_caption"]["file_name"] == "sft_caption.json"
    assert len(caps) == 64 and len({c["videos"][0] for c in caps}) == 64  # one a clip
    assert all(c["messages"][1]["content"].startswith("<observation>")
               and c["messages"][1]["content"].endswith("</observation>") for c in caps)
    # The motion captions: one a clip, the motion's short name and nothing else (hand-checked
    # names for the single-primitive motions this set renders).
    motion_caps = json.loads((synth_set / "sft_motion.json").read_text())
    assert info["synthetic_motion"]["file_name"] == "sft_motion.json"
    manifest = {json.loads(x)["video"]: json.loads(x)
                for x in (synth_set / "manifest.jsonl").read_text().splitlines()}
    assert sorted(c["videos"][0] for c in motion_caps) == sorted(manifest)
    expected = {"Pan_Left": "pans left", "Tilt_Up": "tilts up", "Static": "static (no camera motion)",
                "Shake": "shaking but not moving"}
    seen = set()
    for c in motion_caps:
        assert c["messages"][0]["content"] == "<video>" + prompts.CAPTION_INSTRUCTION
        motion = manifest[c["videos"][0]]["motion"]
        if motion in expected:
            assert c["messages"][1]["content"] == f"<observation>{expected[motion]}</observation>"
            seen.add(motion)
    assert seen == set(expected)


@pytest.mark.slow
def test_deterministic_per_seed_whatever_the_workers(tmp_path):
    from camreasoner.synth.build import build

    a, b = tmp_path / "a", tmp_path / "b"
    build(a, clips=6, seed=11, size=96, frames=6, workers=1, progress=False)
    build(b, clips=6, seed=11, size=96, frames=6, workers=2, progress=False)
    for name in ("manifest.jsonl", "items_binary.jsonl", "items_mc.jsonl", "sft.json"):
        assert (a / name).read_text() == (b / name).read_text(), name
    for clip in (a / "videos").iterdir():
        assert clip.read_bytes() == (b / "videos" / clip.name).read_bytes()


def test_cli_motions_restrict_the_mix(tmp_path):
    from camreasoner.cli import main

    assert main(["synth", "--out", str(tmp_path / "s"), "--clips", "4", "--size", "64",
                 "--frames", "6", "--motions", "Zoom_In,Move_In+Pan_Right"]) == 0
    motions = [json.loads(x)["motion"] for x in (tmp_path / "s" / "manifest.jsonl").open()]
    assert motions == ["Zoom_In", "Move_In+Pan_Right"] * 2


@pytest.mark.slow
def test_geometric_baseline_beats_chance(synth_set, tmp_path):
    from camreasoner.baseline.geometric import run_baseline
    from camreasoner.eval.score import score_files

    summary = run_baseline(synth_set / "items_binary.jsonl", synth_set / "videos",
                           tmp_path / "pred.jsonl", workers=2, progress=False)
    assert summary["predictions"] == 64 * 15 and summary["clip_errors"] == 0
    m = score_files(synth_set / "items_binary.jsonl", tmp_path / "pred.jsonl")["binary"]
    for prim in ("Pan_Left", "Pan_Right", "Tilt_Up", "Tilt_Down", "Zoom_In", "Zoom_Out",
                 "Roll_Clockwise", "Roll_Counterclockwise"):
        v = m["per_task"][prim]
        chance = 100 * v["positives"] / v["n"]
        assert v["ap_prob"] > chance + 30, (prim, v["ap_prob"], chance)
