"""The RL stage's parts that run on the CPU, through verl itself: Hydra recipes, the dataset from
our parquet, the reward manager with our compute_score, and EMA-GRPO via compute_advantage."""

import os
from pathlib import Path

import numpy as np
import pytest

from camreasoner.rl.ema_grpo import EmaStd, ema_grpo_advantages

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


@pytest.mark.parametrize("recipe", ["qwen2_5_vl_7b_grpo", "qwen2_5_vl_3b_grpo", "seed_rewards",
                                    "tiny_gpu_grpo"])
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
    # The seed's settings.
    assert cfg.data.train_batch_size == 128
    assert cfg.actor_rollout_ref.actor.ppo_mini_batch_size == 32
    assert cfg.actor_rollout_ref.actor.optim.lr == 2e-6


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
    build(out, clips=6, seed=3, size=112, frames=8, fps=4, progress=False)
    return out


def test_verl_dataset_reads_every_row_with_matching_video_tokens(rl_parquet, tiny_model,
                                                                  monkeypatch):
    import asyncio

    import pyarrow.parquet as pq
    from omegaconf import OmegaConf
    from transformers import AutoProcessor
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from camreasoner.data.convert import read_verl_parquet
    from camreasoner.eval.frames import load_frames
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
        images, videos = asyncio.run(RLHFDataset.process_vision_info(
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
