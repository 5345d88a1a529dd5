"""Both evaluation backends: how they build requests (frames as images, a video, the p_yes
passes), their prompt token counts, and p_yes against logits computed directly. The vLLM backend
runs against a stub engine with vLLM's `generate` signature (vLLM itself needs a GPU); its real
run is the GPU check in docs/performance.md."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from camreasoner.eval.backends import (
    BackendError,
    HFBackend,
    Request,
    VLLMBackend,
    make_backend,
)
from camreasoner.media.frames import load_frames
from camreasoner.vision import TINY_VISION

FRAMES = TINY_VISION.with_overrides(mode="frames")


@dataclass
class _Logprob:
    logprob: float


@dataclass
class _Completion:
    text: str
    token_ids: list[int]
    logprobs: list[dict[int, _Logprob]] | None = None


@dataclass
class _Output:
    prompt_token_ids: list[int]
    outputs: list[_Completion]


@dataclass
class StubEngine:
    """Records what it is asked; answers every prompt with ``reply`` (tokenised by the model's
    tokenizer, as vLLM's detokenizer would give it back) and, where ``logprob_token_ids`` are
    asked for, their log-probabilities at every position from ``logprobs`` (vLLM returns exactly
    those ids). Prompt token counts are the HF processor's for the same text and images (vLLM
    expands the placeholders with the model's own processor)."""

    processor: object
    reply: str = "<observation>o</observation><think>t</think><answer>B</answer>"
    logprobs: dict[int, float] = field(default_factory=dict)
    calls: list[tuple[list[dict], object]] = field(default_factory=list)

    def generate(self, prompts, params, use_tqdm=False):
        self.calls.append((prompts, params))
        tok = self.processor.tokenizer
        outs = []
        for k, p in enumerate(prompts):
            mm = p["multi_modal_data"]
            inputs = self.processor(text=[p["prompt"]], images=mm.get("image"),
                                    return_tensors="pt")
            par = params[k] if isinstance(params, list) else params
            ids = tok(self.reply, add_special_tokens=False)["input_ids"][:par["max_tokens"]]
            want = par.get("logprob_token_ids")
            lp = ([{t: _Logprob(self.logprobs.get(t, -30.0)) for t in want} for _ in ids]
                  if want else None)
            outs.append(_Output(inputs["input_ids"][0].tolist(),
                                [_Completion(tok.decode(ids), ids, lp)]))
        return outs


@pytest.fixture(scope="module")
def processor(tiny_model):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_model)


@pytest.fixture(scope="module")
def request_(clip_root):
    video = load_frames(clip_root / "pan.mp4", FRAMES)
    return Request("r1", "Does the camera pan to the left?\nOptions:\nA. No\nB. Yes", video,
                   ("A", "B"))


def test_a_setting_a_backend_cannot_honour_is_refused(tiny_model):
    with pytest.raises(BackendError, match="backend 'hf' cannot honour max_model_len"):
        make_backend("hf", str(tiny_model), max_model_len=81920)
    with pytest.raises(BackendError, match="cannot honour resize"):
        make_backend("vllm", str(tiny_model), resize="easyr1")
    with pytest.raises(BackendError, match="p_yes='maybe'"):
        make_backend("hf", str(tiny_model), p_yes="maybe")
    with pytest.raises(BackendError, match="unknown backend 'trt'"):
        make_backend("trt", str(tiny_model))


def test_vllm_frames_mode_sends_each_frame_as_an_image(tiny_model, processor, request_):
    engine = StubEngine(processor)
    backend = VLLMBackend(str(tiny_model), vision_mode="frames", max_frames=64, p_yes="off",
                          max_new_tokens=7, engine=engine, processor=processor)
    assert "logprob_token_ids" not in backend.sampling_params([request_])
    (res,) = backend.generate([request_])
    (prompt,), params = engine.calls[0]
    n = len(request_.video.frames)
    assert n == 4 and backend.limit_mm_per_prompt == {"image": 64}  # 1 s at 4 fps
    images = prompt["multi_modal_data"]["image"]
    assert len(images) == n and "video" not in prompt["multi_modal_data"]
    assert all(im.size == (request_.video.frames.shape[2], request_.video.frames.shape[1])
               for im in images)
    assert prompt["prompt"].count("<|vision_start|><|image_pad|><|vision_end|>") == n
    assert "<|video_pad|>" not in prompt["prompt"]
    assert prompt["prompt"].index("<|image_pad|>") < prompt["prompt"].index("Does the camera")
    assert params["max_tokens"] == 7 and params["temperature"] == 0.0
    counted = processor(text=[prompt["prompt"]], images=images, return_tensors="pt")
    assert res.prompt_tokens == counted["input_ids"].shape[1]


def test_vllm_video_mode_sends_one_video_with_our_frames(tiny_model, processor, clip_root):
    video = load_frames(clip_root / "pan.mp4", TINY_VISION)
    engine = StubEngine(processor)

    def generate(prompts, params, use_tqdm=False):  # a video prompt: count nothing, keep it
        engine.calls.append((prompts, params))
        return [_Output([0] * 5, [_Completion("<answer>A</answer>", [1])]) for _ in prompts]

    engine.generate = generate
    backend = VLLMBackend(str(tiny_model), p_yes="off", engine=engine, processor=processor)
    backend.generate([Request("v", "q", video, None)])
    (prompt,), _ = engine.calls[0]
    frames, meta = prompt["multi_modal_data"]["video"][0]
    assert frames is video.frames and meta["frames_indices"] == list(video.indices)
    assert meta["do_sample_frames"] is False and backend.limit_mm_per_prompt == {"video": 1}
    assert prompt["prompt"].count("<|video_pad|>") == 1


def test_vllm_p_yes_letters_is_read_from_the_generation(tiny_model, processor, request_):
    """The answer letters' log-probabilities are asked for by id at every generated position;
    p_yes comes from the position after the response's own <answer>: no second pass."""
    from camreasoner.eval.backends import answer_prefix, divergent_tokens, letter_candidates

    tok = processor.tokenizer
    engine = StubEngine(processor)
    _, (no_tok, yes_tok) = divergent_tokens(tok, answer_prefix(engine.reply), ("A", "B"))
    engine.logprobs = {no_tok: np.log(0.2), yes_tok: np.log(0.6)}
    backend = VLLMBackend(str(tiny_model), vision_mode="frames", p_yes="letters", engine=engine,
                          processor=processor)
    (res,) = backend.generate([request_])
    assert len(engine.calls) == 1 and backend.p_yes_from_generation == 1
    assert engine.calls[0][1]["logprob_token_ids"] == letter_candidates(tok, ["A", "B"])
    assert res.p_yes == pytest.approx(0.6 / (0.6 + 0.2))


def test_vllm_p_yes_letters_falls_back_to_one_exact_scoring_pass(tiny_model, processor,
                                                                 request_):
    """A response without <answer>: one scoring pass, the two letters asked for by id (exact
    values, so no floor for letters outside a top-k)."""
    from camreasoner.eval.backends import answer_prefix, divergent_tokens

    tok = processor.tokenizer
    engine = StubEngine(processor, reply="the view slides")
    common, (no_tok, yes_tok) = divergent_tokens(tok, answer_prefix(engine.reply), ("A", "B"))
    engine.logprobs = {no_tok: np.log(0.3), yes_tok: np.log(0.1)}
    backend = VLLMBackend(str(tiny_model), vision_mode="frames", p_yes="letters", engine=engine,
                          processor=processor)
    (res,) = backend.generate([request_])
    assert len(engine.calls) == 2 and backend.p_yes_extra_passes == 1
    (score_prompt,), params = engine.calls[1]
    assert params[0]["max_tokens"] == 1 and params[0]["logprob_token_ids"] == [no_tok, yes_tok]
    assert score_prompt["prompt"].endswith(tok.decode(common))
    assert res.p_yes == pytest.approx(0.1 / (0.1 + 0.3))


def test_vllm_p_yes_yes_token_reads_the_first_generated_token(tiny_model, processor, request_):
    yes = processor.tokenizer("Yes", add_special_tokens=False)["input_ids"][0]
    engine = StubEngine(processor, reply="Yes", logprobs={yes: np.log(0.3)})
    backend = VLLMBackend(str(tiny_model), vision_mode="frames", p_yes="yes_token",
                          max_new_tokens=1, engine=engine, processor=processor)
    (res,) = backend.generate([request_])
    assert len(engine.calls) == 1 and engine.calls[0][1]["logprob_token_ids"] == [yes]
    assert res.p_yes == pytest.approx(0.3)


def test_hf_frames_mode_counts_and_p_yes_match_direct_logits(tiny_model, request_):
    hf = HFBackend(str(tiny_model), device="cpu", max_new_tokens=4, p_yes="yes_token",
                   vision_mode="frames")
    (res,) = hf.generate([request_])
    text = hf._chat(request_.prompt, len(request_.video.frames))
    inputs = hf._inputs([text], [request_.video])
    # 4 frames of 56x56 (the tiny spec's 3,136-px minimum): each (56/28) * (56/28) = 4 tokens
    assert request_.video.frames.shape[1:3] == (56, 56)
    n_text = len(hf.processor.tokenizer(text)["input_ids"]) - 4  # one image_pad each, expanded
    assert res.prompt_tokens == inputs["input_ids"].shape[1] == n_text + 4 * 4
    with torch.inference_mode():
        logits = hf.model(**inputs).logits[0, -1].float()
    yes = hf.processor.tokenizer("Yes", add_special_tokens=False)["input_ids"][0]
    assert res.p_yes == pytest.approx(float(torch.softmax(logits, -1)[yes]), rel=1e-4)


@pytest.fixture(scope="module")
def answering_model(tiny_model, request_, tmp_path_factory):
    """The tiny model taught (teacher forcing, one sample) to answer the request in O-T-A form."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from camreasoner.prompts import chat_messages

    proc = AutoProcessor.from_pretrained(tiny_model)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model)
    chat = proc.apply_chat_template(chat_messages(request_.prompt, len(request_.video.frames)),
                                    tokenize=False, add_generation_prompt=True)
    images = list(request_.video.frames)
    n = proc(text=[chat], images=images, return_tensors="pt")["input_ids"].shape[1]
    enc = proc(text=[chat + "<observation>o</observation><think>t</think><answer>B</answer>"
                     "<|im_end|>"], images=images, return_tensors="pt")
    labels = enc["input_ids"].clone()
    labels[:, :n] = -100
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        loss = model(**enc, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = tmp_path_factory.mktemp("answering")
    model.save_pretrained(out)
    proc.save_pretrained(out)
    return out


def test_hf_p_yes_is_read_from_the_generation_as_a_second_pass_would_give_it(answering_model,
                                                                              request_):
    hf = HFBackend(str(answering_model), device="cpu", max_new_tokens=32, p_yes="letters",
                   vision_mode="frames")
    (res,) = hf.generate([request_, request_])[:1]
    assert "<answer>" in res.response
    assert (hf.p_yes_from_generation, hf.p_yes_extra_passes) == (2, 0)
    text = hf._chat(request_.prompt, len(request_.video.frames))
    assert res.p_yes == pytest.approx(hf._p_yes_letters(text, res.response, request_), abs=1e-5)
    # a response that never wrote <answer>: the second pass, as before
    hf.max_new_tokens = 3
    (short,) = hf.generate([request_])
    assert "<answer>" not in short.response and hf.p_yes_extra_passes == 1
    assert short.p_yes == pytest.approx(hf._p_yes_letters(text, short.response, request_),
                                        abs=1e-6)


def test_text_token_types_widen_a_batch_with_text():
    import torch

    from camreasoner.media.model_inputs import text_token_types

    types = torch.tensor([[0, 2, 2, 0], [2, 2, 0, 0]], dtype=torch.int32)
    wide = text_token_types(types, 6)
    assert wide.tolist() == [[0, 2, 2, 0, 0, 0], [2, 2, 0, 0, 0, 0]]
    assert wide.dtype == torch.int32
    assert text_token_types(types, 4).tolist() == types.tolist()
