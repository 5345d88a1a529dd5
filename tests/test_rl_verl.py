"""The RL stage's parts that run on the CPU, through verl itself: Hydra recipes, the dataset from
our parquet, the reward manager with our compute_score, and EMA-GRPO via compute_advantage."""

from pathlib import Path

import numpy as np
import pytest

from camreasoner.rl.ema_grpo import EmaStd, ema_grpo_advantages
from tests.seed_oracle import SEED_QUESTION_TEMPLATE

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "EasyR1"


# --- EMA-GRPO against a small numpy reference --------------------------------------------------
def reference(batches, groups, decay=0.99, min_std=1e-3, guard=5.0, eps=1e-6):
    """Straight from the definition, one batch at a time (single task)."""
    m1 = m2 = None
    out = []
    for scores in batches:
        s = np.asarray(scores, float)
        b1, b2 = s.mean(), (s * s).mean()
        m1, m2 = (b1, b2) if m1 is None else (decay * m1 + (1 - decay) * b1,
                                              decay * m2 + (1 - decay) * b2)
        std = max(np.sqrt(max(m2 - m1 * m1, 0)), min_std)
        adv = np.zeros_like(s)
        for g in set(groups):
            idx = [i for i, x in enumerate(groups) if x == g]
            c = s[idx] - s[idx].mean()
            a = c / (std + eps)
            if np.any(np.abs(a) > guard):
                a = c / (s[idx].std() + eps)
            adv[idx] = a
        out.append(adv)
    return out


def test_ema_grpo_matches_reference_over_steps():
    rng = np.random.default_rng(0)
    groups = [0] * 4 + [1] * 4 + [2] * 4
    batches = [rng.integers(0, 2, 12).astype(float) * 0.9 + 0.1 * rng.random(12)
               for _ in range(6)]
    tracker = EmaStd()
    ours = [ema_grpo_advantages(b, groups, tracker) for b in batches]
    for a, b in zip(ours, reference(batches, groups), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_ema_grpo_hand_checked_first_batch_and_guard():
    # First batch initialises the EMA with its own stats: scores [1,0,1,0 | 1,1,1,0]
    # mean .625, E[x^2] .625 -> std sqrt(.625 - .390625) = .484123.
    scores = [1, 0, 1, 0, 1, 1, 1, 0]
    adv = ema_grpo_advantages(scores, [0] * 4 + [1] * 4, EmaStd())
    std = np.sqrt(0.625 - 0.625 ** 2)
    np.testing.assert_allclose(adv[:4], np.array([0.5, -0.5, 0.5, -0.5]) / (std + 1e-6))
    np.testing.assert_allclose(adv[4:], np.array([0.25, 0.25, 0.25, -0.75]) / (std + 1e-6))
    # Guard: a near-constant history makes the EMA std tiny; a group with one outlier would get
    # |adv| > 5 and falls back to its own std.
    t = EmaStd(decay=0.99)
    ema_grpo_advantages([0.5] * 8, [0] * 4 + [1] * 4, t)
    adv = ema_grpo_advantages([0.5, 0.5, 0.5, 0.51, 0.5, 0.5, 0.5, 0.5], [0] * 4 + [1] * 4, t)
    g = np.array([0.5, 0.5, 0.5, 0.51])
    np.testing.assert_allclose(adv[:4], (g - g.mean()) / (g.std() + 1e-6))
    assert np.all(adv[4:] == 0)


def test_ema_grpo_needs_groups_of_two():
    with pytest.raises(ValueError, match="at least 2 responses"):
        ema_grpo_advantages([1.0, 0.0, 1.0], [0, 0, 1], EmaStd())


def test_estimator_through_verl_compute_advantage():
    import torch
    from verl import DataProto
    from verl.trainer.ppo import core_algos
    from verl.trainer.ppo.ray_trainer import compute_advantage

    import camreasoner.rl.ema_grpo as ema

    assert "ema_grpo" in core_algos.ADV_ESTIMATOR_REGISTRY  # registered by the plugin
    ema.TRACKER.state.clear()
    scores = np.array([1, 0, 1, 0, 1, 1, 1, 0], float)
    t = 5
    rewards = torch.zeros(8, t)
    rewards[:, -1] = torch.tensor(scores)
    mask = torch.ones(8, t)
    mask[0, :2] = 0
    data = DataProto.from_dict(
        tensors={"token_level_rewards": rewards, "response_mask": mask},
        non_tensors={"uid": np.array(["a"] * 4 + ["b"] * 4, dtype=object)})
    out = compute_advantage(data, adv_estimator="ema_grpo")
    want = ema_grpo_advantages(scores, ["a"] * 4 + ["b"] * 4, EmaStd())
    got = out.batch["advantages"]
    np.testing.assert_allclose(got[:, -1].numpy(), want, rtol=1e-5)
    assert torch.all(got[0, :2] == 0)  # masked tokens get no advantage


# --- Hydra recipes through verl's own validation ----------------------------------------------
def _compose(name, overrides=()):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(RECIPES), version_base=None):
        return compose(config_name=name, overrides=list(overrides))


@pytest.mark.parametrize("recipe", sorted(p.stem for p in RECIPES.glob("[!_]*.yaml")))
@pytest.mark.slow
def test_recipes_compose_and_validate(recipe):
    from verl.trainer.main_ppo import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    text = (RECIPES / f"{recipe}.yaml").read_text()
    assert text.startswith("# Launch:"), "every recipe opens with its launch command"
    cfg = _compose(recipe)
    validate_config(cfg, use_reference_policy=need_reference_policy(cfg),
                    use_critic=need_critic(cfg))
    algo = omega_conf_to_dataclass(cfg.algorithm)
    assert algo.adv_estimator == "ema_grpo" and algo.filter_groups.metric == "acc"
    assert cfg.actor_rollout_ref.rollout.n == 8
    assert not cfg.actor_rollout_ref.actor.use_kl_loss and not cfg.algorithm.use_kl_in_reward
    assert cfg.reward.custom_reward_function.path == "pkg://camreasoner.rewards"
    if recipe == "tiny_gpu_grpo":  # one GPU, no flash-attn: SDPA and no packing
        assert cfg.trainer.n_gpus_per_node == 1 and cfg.data.train_batch_size == 8
        assert cfg.actor_rollout_ref.model.override_config.attn_implementation == "sdpa"
        assert not cfg.actor_rollout_ref.model.use_remove_padding
        assert cfg.trainer.save_freq == cfg.trainer.total_training_steps  # a checkpoint to merge
        return
    # The seed's batch sizes and optimiser, in both protocols.
    assert cfg.data.train_batch_size == 128
    assert cfg.actor_rollout_ref.actor.ppo_mini_batch_size == 32
    assert cfg.actor_rollout_ref.actor.optim.lr == 2e-6


@pytest.mark.parametrize("recipe", ["qwen2_5_vl_7b_grpo", "qwen2_5_vl_3b_grpo"])
@pytest.mark.slow
def test_seed_recipes_pin_the_seeds_values(recipe):
    """SEED_PROTOCOL.md, "RL settings", where verl has the knob."""
    cfg = _compose(recipe)
    actor, rollout = cfg.actor_rollout_ref.actor, cfg.actor_rollout_ref.rollout
    assert (cfg.data.max_prompt_length, cfg.data.max_response_length) == (16384, 4096)
    assert not cfg.data.filter_overlong_prompts and cfg.data.image_key == "images"
    assert (actor.clip_ratio_low, actor.clip_ratio_high) == (0.2, 0.3)
    assert (actor.optim.weight_decay, actor.optim.lr_warmup_steps_ratio) == (0.01, 0.0)
    assert actor.ppo_micro_batch_size_per_gpu == 1 and not actor.freeze_vision_tower
    assert actor.fsdp_config.model_dtype == "bf16"
    assert (rollout.temperature, rollout.top_p, rollout.limit_images) == (1.0, 1.0, 64)
    assert rollout.max_model_len == 16384 + 4096
    assert (rollout.val_kwargs.temperature, rollout.val_kwargs.top_p) == (0.7, 0.95)
    assert cfg.trainer.total_epochs == 2 and cfg.trainer.test_freq == -1
    assert cfg.algorithm.filter_groups.max_num_gen_batches == 20
    assert cfg.reward.custom_reward_function.reward_kwargs.protocol == "seed"
    text = (RECIPES / "_seed_grpo.yaml").read_text()
    assert "adamw_bf16" in text  # where verl lacks the knob, the recipe says so


@pytest.mark.slow
def test_bad_overrides_fail():
    from hydra.errors import ConfigCompositionException
    from verl.trainer.main_ppo import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    with pytest.raises(ConfigCompositionException):
        _compose("qwen2_5_vl_7b_grpo", ["algorithm.ema_decay=0.9"])
    cfg = _compose("qwen2_5_vl_7b_grpo", ["actor_rollout_ref.actor.ppo_mini_batch_size=1000"])
    with pytest.raises(ValueError, match="ppo_mini_batch_size"):
        validate_config(cfg, use_reference_policy=need_reference_policy(cfg),
                        use_critic=need_critic(cfg))


# --- verl's dataset from our parquet, and its reward manager ----------------------------------
@pytest.fixture(scope="module")
def rl_parquet(tmp_path_factory):
    from camreasoner.synth.build import build

    out = tmp_path_factory.mktemp("rl")
    build(out, clips=6, seed=3, size=112, frames=8, fps=2, progress=False)
    return out


def test_verl_dataset_reads_every_row_with_matching_video_tokens(rl_parquet, tiny_model,
                                                                  monkeypatch):
    import asyncio

    import pyarrow.parquet as pq
    from omegaconf import OmegaConf
    from transformers import AutoProcessor
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from camreasoner.data.convert import read_verl_parquet
    from camreasoner.media.frames import load_frames
    from camreasoner.vision import VisionSpec

    # qwen-vl-utils prefers torchcodec, which needs a system FFmpeg; choose decord explicitly.
    monkeypatch.setenv("FORCE_QWENVL_VIDEO_READER", "decord")
    processor = AutoProcessor.from_pretrained(tiny_model)
    rows = pq.read_table(rl_parquet / "rl.parquet").to_pylist()
    config = OmegaConf.create({"prompt_key": "prompt", "video_key": "videos",
                               "max_prompt_length": 4096, "filter_overlong_prompts": True,
                               "filter_overlong_prompts_workers": 1, "truncation": "error",
                               "return_raw_chat": True, "cache_dir": str(rl_parquet / "cache")})
    ds = RLHFDataset(str(rl_parquet / "rl.parquet"), processor.tokenizer, config, processor)
    assert len(ds) == len(rows) == 18  # no row dropped by the overlong/vision filter
    items = {i.id: i for i in read_verl_parquet(rl_parquet / "rl.parquet", rl_parquet / "videos")}
    for k in (0, 5, 11):
        row = ds[k]
        _, videos = asyncio.run(RLHFDataset.process_vision_info(
            row["raw_prompt"], image_patch_size=14, config=config))
        frames, meta = videos[0]
        text = processor.apply_chat_template(row["raw_prompt"], add_generation_prompt=True,
                                             tokenize=False)
        enc = processor(text=[text], videos=[frames], video_metadata=[meta], return_tensors="pt",
                        do_sample_frames=False, do_resize=False)
        n_verl = int((enc["input_ids"] == processor.video_token_id).sum())
        # Our eval runner's frames for the same item, at the same vision spec.
        spec = VisionSpec(**{k2: v for k2, v in rows[k]["videos"][0].items() if k2 != "video"})
        ours = load_frames(rl_parquet / "videos" / items[rows[k]["extra_info"]["id"]].video, spec)
        t, h, w = ours.frames.shape[:3]
        assert frames.shape[0] == t and tuple(frames.shape[-2:]) == (h, w)
        assert n_verl == (t // 2) * (h // 28) * (w // 28)


def test_verl_reward_manager_calls_our_compute_score(tiny_model):
    import torch
    from transformers import AutoTokenizer
    from verl import DataProto
    from verl.workers.reward_manager.naive import NaiveRewardManager

    from camreasoner import rewards

    tok = AutoTokenizer.from_pretrained(tiny_model)
    good = ("<observation>The view slides right with no parallax.</observation><think>The "
            "camera pans left.</think><answer>B</answer>")
    texts = [good, good.replace("<answer>B", "<answer>A"), "B"]
    prompt = tok("prompt", return_tensors="pt")["input_ids"][0]
    resp = [tok(t, return_tensors="pt")["input_ids"][0] for t in texts]
    length = max(len(r) for r in resp)
    responses = torch.full((3, length), tok.pad_token_id)
    attn = torch.zeros(3, len(prompt) + length, dtype=torch.long)
    for i, r in enumerate(resp):
        responses[i, :len(r)] = r
        attn[i, :len(prompt) + len(r)] = 1
    info = {"options": ["A. No", "B. Yes"], "question": "Does the camera pan to the left?",
            "task": "Pan_Left"}
    data = DataProto.from_dict(
        tensors={"prompts": prompt.repeat(3, 1), "responses": responses, "attention_mask": attn},
        non_tensors={"reward_model": np.array([{"ground_truth": "B"}] * 3, dtype=object),
                     "data_source": np.array(["synthetic"] * 3, dtype=object),
                     "extra_info": np.array([dict(info) for _ in range(3)], dtype=object)})
    manager = NaiveRewardManager(tok, num_examine=0, compute_score=rewards.compute_score)
    out = manager(data, return_dict=True)
    scores = out["reward_tensor"].sum(-1).tolist()
    assert scores == pytest.approx([1.0, 0.1, 0.0])
    assert out["reward_extra_info"]["acc"] == [1.0, 0.0, 0.0]
    assert out["reward_extra_info"]["consistency"] == [1.0, 0.0, 0.0]


# --- the seed protocol's RL input: 1 fps frames as images, fitted into 16,384 tokens -----------
# EasyR1's code (CamReasoner EasyR1/verl/utils/dataset.py, commit 8b71188), copied as the oracle:
# process_image, the "Dummy text" measure and the 20% frame drop (its question template:
# tests/seed_oracle.py).
def _easyr1_process_image(path, min_pixels, max_pixels):
    import math

    from PIL import Image

    image = Image.open(path)
    image.load()
    if max_pixels is not None and (image.width * image.height) > max_pixels:
        resize_factor = math.sqrt(max_pixels / (image.width * image.height))
        width, height = int(image.width * resize_factor), int(image.height * resize_factor)
        image = image.resize((width, height))
    if min_pixels is not None and (image.width * image.height) < min_pixels:
        resize_factor = math.sqrt(min_pixels / (image.width * image.height))
        width, height = int(image.width * resize_factor), int(image.height * resize_factor)
        image = image.resize((width, height))
    return image.convert("RGB") if image.mode != "RGB" else image


def _easyr1_truncate(processor, frames, min_pixels, max_pixels, max_len):
    current = list(frames)
    while True:
        content = [{"type": "image"} for _ in current] + [{"type": "text", "text": "Dummy text"}]
        text = processor.apply_chat_template([{"role": "user", "content": content}],
                                             add_generation_prompt=True, tokenize=False)
        imgs = [_easyr1_process_image(f, min_pixels, max_pixels) for f in current]
        if processor(images=imgs, text=[text], return_tensors="pt").input_ids.shape[1] <= max_len:
            return current
        n = len(current)
        if n <= 1:
            return current
        keep_n = max(1, int(n * 0.8))
        current = [current[j] for j in np.linspace(0, n - 1, keep_n, dtype=int)]


@pytest.fixture(scope="module")
def qwen_bounds_model(tmp_path_factory):
    """The tiny model with Qwen2.5-VL's own processor bounds (min 3,136, max 12,845,056 px), so
    full-resolution frames keep their size as they do for the real model."""
    from camreasoner.dev.tiny_model import TinyModelSpec, build_tiny_model
    from camreasoner.vision import PROCESSOR_MAX_PIXELS, PROCESSOR_MIN_PIXELS

    return build_tiny_model(tmp_path_factory.mktemp("qwen_bounds"),
                            TinyModelSpec(min_pixels=PROCESSOR_MIN_PIXELS,
                                          max_pixels=PROCESSOR_MAX_PIXELS))


@pytest.mark.slow
def test_seed_rl_rows_give_verl_the_seeds_prompt(qwen_bounds_model, tmp_path):
    """A 20 s 1280x720 clip in the seed's RL protocol: verl's own RLHFDataset, reading our parquet,
    builds the prompt EasyR1 built (same frames kept, same token count)."""
    import subprocess

    import imageio_ffmpeg
    import pyarrow.parquet as pq
    from omegaconf import OmegaConf
    from transformers import AutoProcessor
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from camreasoner import prompts
    from camreasoner.data.convert import write_verl_parquet
    from camreasoner.dev.clips import write_clip
    from camreasoner.protocols import SEED
    from tests.conftest import make_item

    root = tmp_path / "videos"
    write_clip(root / "wide.mp4", frames=40, width=1280, height=720, fps=2)  # 20 s
    item = make_item(id="wide", video="video/wide.mp4")
    n, skipped = write_verl_parquet([item], tmp_path / "rl.parquet", root, SEED.rl.vision,
                                    model=str(qwen_bounds_model),
                                    max_prompt_tokens=SEED.rl.max_prompt_tokens)
    assert (n, skipped) == (1, [])
    processor = AutoProcessor.from_pretrained(qwen_bounds_model)
    config = OmegaConf.create({"prompt_key": "prompt", "image_key": "images",
                               "max_prompt_length": 16384, "filter_overlong_prompts": False,
                               "truncation": "error", "return_raw_chat": True,
                               "cache_dir": str(tmp_path / "cache")})
    ds = RLHFDataset(str(tmp_path / "rl.parquet"), processor.tokenizer, config, processor)
    assert len(ds) == 1
    row = ds[0]
    # verl 0.9.1 tokenizes in its agent loop: the images its dataset hands on, then the processor
    import asyncio

    images, videos = asyncio.run(RLHFDataset.process_vision_info(
        row["raw_prompt"], image_patch_size=14, config=config))
    assert videos is None and len(images) == 12
    verl_text = processor.apply_chat_template(row["raw_prompt"], add_generation_prompt=True,
                                              tokenize=False)
    verl_enc = processor(text=[verl_text], images=images, return_tensors="pt")
    ours = verl_enc.input_ids.shape[1]
    grid_ours = verl_enc["image_grid_thw"]

    # The seed: ffmpeg's fps=1 frames, [:64], dropped to fit, then the prompt.
    frames_dir = tmp_path / "seed_frames"
    frames_dir.mkdir()
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i",
                    str(root / "wide.mp4"), "-vf", "fps=1", str(frames_dir / "frame_%05d.png")],
                   check=True)
    frames = sorted(frames_dir.glob("*.png"))[:64]
    assert len(frames) == 20
    kept = _easyr1_truncate(processor, frames, 3136, 1048576, 16384)
    # 1288x728 frames: 46 * 26 = 1,196 tokens + 2 a frame; 20 -> 16 -> 12 frames fit
    assert len(kept) == 12
    question = prompts.build_question(item.question, item.options)
    content = [{"type": "image"} for _ in kept] + [
        {"type": "text", "text": SEED_QUESTION_TEMPLATE.format(Question=question)}]
    text = processor.apply_chat_template([{"role": "user", "content": content}],
                                         add_generation_prompt=True, tokenize=False)
    enc = processor(images=[_easyr1_process_image(f, 3136, 1048576) for f in kept],
                    text=[text], add_special_tokens=False, return_tensors="pt")
    assert ours == enc.input_ids.shape[1]
    assert grid_ours.tolist() == enc["image_grid_thw"].tolist() == [[1, 52, 92]] * 12
    # the text the model reads is the seed's, byte for byte
    assert row["raw_prompt"][0]["content"][-1]["text"] == \
        SEED_QUESTION_TEMPLATE.format(Question=question)
    rows = pq.read_table(tmp_path / "rl.parquet").to_pylist()
    assert rows[0]["reward_model"]["ground_truth"] == "B" and len(rows[0]["images"]) == 12


@pytest.mark.slow
def test_one_gpu_3b_rehearsal_overrides_validate():
    """benchmarks/bench_grpo_3b.py's overrides on the 3B seed recipe pass verl's own checks."""
    import sys

    from verl.trainer.main_ppo import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    sys.path.insert(0, str(RECIPES.parent / "benchmarks"))
    from bench_grpo_3b import one_gpu_overrides

    cfg = _compose("qwen2_5_vl_3b_grpo",
                   [*one_gpu_overrides(prompts=4, mini=1, steps=3), "trainer.n_gpus_per_node=1"])
    validate_config(cfg, use_reference_policy=need_reference_policy(cfg),
                    use_critic=need_critic(cfg))
    assert cfg.data.max_prompt_length == 16384 and cfg.data.max_response_length == 4096
    assert cfg.actor_rollout_ref.rollout.n == 8 and cfg.actor_rollout_ref.rollout.top_k == 50
    assert not cfg.algorithm.filter_groups.enable
    assert cfg.actor_rollout_ref.model.override_config.attn_implementation == "sdpa"


def test_3b_rehearsal_table_reads_verl_metric_names():
    """The 3B rehearsal's table from the metrics verl logged on the H200 (docs/results): every
    column found, the actor's memory under its ``actor/`` name."""
    import json
    import sys

    sys.path.insert(0, str(RECIPES.parent / "benchmarks"))
    from bench_grpo_3b import METRICS, table

    logged = json.loads((RECIPES.parent / "docs" / "results"
                         / "2026-12-02_grpo3b_step1.json").read_text())["data"]
    row = {"step": 1, **{m: logged[m] for m in METRICS if m in logged}}
    assert set(row) == {"step", *METRICS}
    assert table([row]).splitlines()[2] == ("| 1 | 66.2 | 109.8 | 606.0 | 805.0 | 740.9 | 14,542.8 "
                                            "| 4,096.0 | 57.4 | 67.0 |")


def test_3b_rehearsal_prompts_differ_in_length(tmp_path, monkeypatch):
    """bench_grpo_3b's items: every prompt of a run a different number of tokens, past the six
    base questions too (verl 0.9.1's update failed on a step whose rows were all one length),
    on clips of the asked length, named by it."""
    from camreasoner.data.schema import read_items
    from camreasoner.dev.tiny_model import TinyModelSpec, build_tokenizer
    from camreasoner.media.video import probe

    monkeypatch.syspath_prepend(str(RECIPES.parent / "benchmarks"))
    from bench_grpo_3b import CLIP_FPS, QUESTIONS, write_inputs

    tok = build_tokenizer(TinyModelSpec())

    def n_tokens(text: str) -> int:
        return len(tok(text)["input_ids"])

    items = read_items(write_inputs(tmp_path, 15, 1, n_tokens))
    lengths = [n_tokens(it.question) for it in items]
    assert len(set(lengths)) == 15, lengths
    assert [it.question for it in items[:6]] == [q for q, _ in QUESTIONS]
    assert all(it.question.startswith(QUESTIONS[k % 6][0]) for k, it in enumerate(items))
    assert probe(tmp_path / "videos" / "c0_1s.mp4").frames == CLIP_FPS
    assert items[5].video == "video/c1_1s.mp4"
