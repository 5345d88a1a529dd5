"""Inference engines behind ``camreasoner eval run``: transformers (CPU, one GPU) and vLLM (GPU
nodes). Both take the same :class:`Request` (prompt text from :mod:`camreasoner.prompts`, frames
from :mod:`camreasoner.vision`), feed the clip the same way (``video``: one video part;
``frames``: one image part a sampled frame, the seed's evaluation) and return the same
:class:`Result`, with the prompt's token count so the two can be compared.

``p_yes``, the probability of "Yes", is computed for yes/no items in one of two ways
(:data:`P_YES_METHODS`):

- ``letters``: read at the answer position. The prompt, then the generated response up to and
  including ``<answer>`` (or the whole response followed by ``<answer>`` when the model wrote
  none) are fed back, and the next-token distribution is compared between the option letters.
  Tokenisers may merge the letter with the tag's ``>``, so the scored tokens are the first tokens
  at which "…<answer>A" and "…<answer>B" differ; ``p_yes`` is the softmax over those two logits.
- ``yes_token``: CameraBench's official VQAScore: P("Yes") over the whole vocabulary at the first
  generated token (for prompts asking for a bare Yes or No).

A backend refuses a setting it cannot honour (:class:`BackendError`) instead of dropping it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from camreasoner.errors import UserError
from camreasoner.media.model_inputs import chat_text, processor_inputs, text_token_types
from camreasoner.media.video import SampledVideo

log = logging.getLogger(__name__)

ANSWER_TAG = "<answer>"
P_YES_METHODS = ("letters", "yes_token", "off")
YES_TEXT = "Yes"


class BackendError(UserError, ValueError):
    """A backend was asked for something it cannot do; the message names the setting."""


@dataclass
class Request:
    id: str
    prompt: str  # user text, without the video (see camreasoner.prompts)
    video: SampledVideo
    yes_no_letters: tuple[str, str] | None = None  # (no letter, yes letter) for yes/no items


@dataclass
class Result:
    response: str
    p_yes: float | None = None
    generated_tokens: int = 0
    prompt_tokens: int = 0


def answer_prefix(response: str) -> str:
    """The response up to and including its first ``<answer>`` (or all of it, plus the tag)."""
    i = response.find(ANSWER_TAG)
    return response[: i + len(ANSWER_TAG)] if i >= 0 else response + ANSWER_TAG


def divergent_tokens(tokenizer, prefix: str, letters: tuple[str, ...]) -> tuple[list[int], list[int]]:
    """(common token ids of prefix+letter for all letters, the first differing token of each)."""
    seqs = [tokenizer(prefix + letter, add_special_tokens=False)["input_ids"] for letter in letters]
    k = 0
    while all(k < len(s) for s in seqs) and len({s[k] for s in seqs}) == 1:
        k += 1
    if any(k >= len(s) for s in seqs):
        raise ValueError(f"letters {letters} tokenise identically after {prefix[-20:]!r}")
    return seqs[0][:k], [s[k] for s in seqs]


def _check_p_yes(p_yes: str) -> str:
    if p_yes not in P_YES_METHODS:
        raise BackendError(f"p_yes={p_yes!r}: use one of {', '.join(P_YES_METHODS)}")
    return p_yes


def _check_vision_mode(vision_mode: str) -> bool:
    if vision_mode not in ("video", "frames"):
        raise BackendError(f"vision_mode={vision_mode!r}: use video or frames")
    return vision_mode == "frames"


def _yes_token(tokenizer) -> int:
    """The token that starts "Yes" (t2v_metrics scores the first token of the answer text)."""
    ids = tokenizer(YES_TEXT, add_special_tokens=False)["input_ids"]
    if not ids:
        raise BackendError(f"the tokenizer has no token for {YES_TEXT!r}")
    return ids[0]


def letter_candidates(tokenizer, letters: list[str]) -> list[int]:
    """The tokens an answer letter can start with right after ``<answer>``: the letter alone and
    the letter merged with the tag's ``>`` (tokenisers do both); what the generation keeps the
    logits of for ``letters`` p_yes."""
    ids: set[int] = set()
    for letter in letters:
        ids.update(tokenizer(letter, add_special_tokens=False)["input_ids"][:1])
        _, firsts = divergent_tokens(tokenizer, ANSWER_TAG, (letter, "#"))
        ids.add(firsts[0])
    return sorted(ids)


class _CaptureLogits:
    """A logits processor that changes nothing and keeps, at every generated position, the
    logits of a few candidate tokens (the answer letters: :func:`letter_candidates`), and at the
    first position the log-probability of ``yes_id`` over the whole vocabulary. With the greedy
    config it is the only processor, so these are the model's raw logits: p_yes then costs no
    pass beyond the generation (``p_yes`` ``letters``: the position after the response's own
    ``<answer>``)."""

    def __init__(self, candidates: list[int], yes_id: int | None = None):
        self.candidates = candidates
        self.index = {t: i for i, t in enumerate(candidates)}
        self.yes_id = yes_id
        self.steps: list = []
        self.first_yes = None

    def __call__(self, input_ids, scores):
        import torch

        if self.yes_id is not None and self.first_yes is None:
            self.first_yes = torch.softmax(scores.float(), dim=-1)[:, self.yes_id].cpu()
        if self.candidates:
            self.steps.append(scores[:, self.candidates].float())
        return scores

    def letter_p_yes(self, row: int, generated: list[int], tokenizer, response: str,
                     letters: tuple[str, str]) -> float | None:
        """p_yes from the kept logits, or None when the response's tokens up to its answer
        position are not the ones the scoring pass would feed (no ``<answer>`` in it, or a
        tokenisation that differs from the model's own)."""
        import torch

        if ANSWER_TAG not in response:
            return None
        common, (no_tok, yes_tok) = divergent_tokens(tokenizer, answer_prefix(response), letters)
        k = len(common)
        if (generated[:k] != common or k >= len(self.steps) or no_tok not in self.index
                or yes_tok not in self.index):
            return None
        logits = self.steps[k][row]
        pair = torch.stack([logits[self.index[no_tok]], logits[self.index[yes_tok]]])
        return float(torch.softmax(pair, dim=0)[1])


class HFBackend:
    """Batched ``generate`` with transformers (left padding, greedy)."""

    name = "hf"

    def __init__(self, model_path: str, device: str = "auto", dtype: str = "auto",
                 max_new_tokens: int = 512, attn_implementation: str | None = None,
                 p_yes: str = "letters", vision_mode: str = "video"):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        from camreasoner.qwen_positions import fix_video_positions
        from camreasoner.qwen_vision_attention import batch_vision_windows

        fix_video_positions()  # the installed transformers' video positions are wrong
        batch_vision_windows()  # one attention call per window length, not per window
        self.p_yes_method = _check_p_yes(p_yes)
        self.frames_mode = _check_vision_mode(vision_mode)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        self.device = device
        self.processor = AutoProcessor.from_pretrained(model_path)
        self.processor.tokenizer.padding_side = "left"
        kw: dict[str, Any] = {"dtype": torch_dtype}
        if attn_implementation:
            kw["attn_implementation"] = attn_implementation
        self.model = AutoModelForImageTextToText.from_pretrained(model_path, **kw).to(device).eval()
        self.max_new_tokens = max_new_tokens

    def _chat(self, prompt: str, n_frames: int | None = None) -> str:
        return chat_text(self.processor, prompt, n_frames if self.frames_mode else None)

    def _inputs(self, texts: list[str], videos: list[SampledVideo]):
        return processor_inputs(self.processor, texts, videos, self.frames_mode).to(self.device)

    def _greedy_config(self):
        """Greedy decoding and nothing else: the model's generation_config may add a repetition
        penalty (Qwen2.5-VL-Instruct's does, 1.05) or top-k/top-p, which vLLM, given explicit
        SamplingParams as in the seed's evaluation, does not apply. So both backends decode
        alike, and the logits the capture below sees are the model's raw ones."""
        from transformers import GenerationConfig

        base = self.model.generation_config
        tok = self.processor.tokenizer
        return GenerationConfig(max_new_tokens=self.max_new_tokens, do_sample=False,
                                eos_token_id=base.eos_token_id,
                                pad_token_id=tok.pad_token_id if base.pad_token_id is None
                                else base.pad_token_id, bos_token_id=base.bos_token_id)

    def generate(self, requests: list[Request]) -> list[Result]:
        import torch
        from transformers import LogitsProcessorList

        texts = [self._chat(r.prompt, len(r.video.frames)) for r in requests]
        inputs = self._inputs(texts, [r.video for r in requests])
        prompt_tokens = [int(n) for n in inputs["attention_mask"].sum(dim=1)]
        tok = self.processor.tokenizer
        letters = sorted({x for r in requests for x in (r.yes_no_letters or ())})
        capture = _CaptureLogits(
            letter_candidates(tok, letters) if self.p_yes_method == "letters" else [],
            _yes_token(tok) if self.p_yes_method == "yes_token" else None)
        with torch.inference_mode():
            out = self.model.generate(**inputs, generation_config=self._greedy_config(),
                                      logits_processor=LogitsProcessorList([capture]),
                                      return_dict_in_generate=True)
        new = out.sequences[:, inputs["input_ids"].shape[1]:]
        results = []
        self.p_yes_from_generation = self.p_yes_extra_passes = 0
        for k, (row, req, text) in enumerate(zip(new, requests, texts)):
            n = int((row != tok.pad_token_id).sum())
            response = tok.decode(row, skip_special_tokens=True)
            p_yes = None
            if req.yes_no_letters and self.p_yes_method == "letters":
                p_yes = capture.letter_p_yes(k, row.tolist(), tok, response, req.yes_no_letters)
                if p_yes is None:  # the answer position is not in what the model generated
                    p_yes = self._p_yes_letters(text, response, req)
                    self.p_yes_extra_passes += 1
                else:
                    self.p_yes_from_generation += 1
            elif req.yes_no_letters and self.p_yes_method == "yes_token":
                p_yes = float(capture.first_yes[k])
            results.append(Result(response=response, p_yes=p_yes, generated_tokens=n,
                                  prompt_tokens=prompt_tokens[k]))
        return results

    def _p_yes_letters(self, chat_text: str, response: str, req: Request) -> float:
        import torch

        common, (no_tok, yes_tok) = divergent_tokens(self.processor.tokenizer,
                                                     answer_prefix(response), req.yes_no_letters)
        inputs = self._inputs([chat_text], [req.video])
        ids = torch.cat([inputs["input_ids"],
                         torch.tensor([common], dtype=inputs["input_ids"].dtype,
                                      device=inputs["input_ids"].device)], dim=1)
        mask = torch.ones_like(ids)
        extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask",
                                                              "mm_token_type_ids")}
        if "mm_token_type_ids" in inputs:
            extra["mm_token_type_ids"] = text_token_types(inputs["mm_token_type_ids"],
                                                          ids.size(1))
        with torch.inference_mode():
            logits = self.model(input_ids=ids, attention_mask=mask, **extra).logits[0, -1]
        pair = torch.stack([logits[no_tok], logits[yes_tok]]).float()
        return float(torch.softmax(pair, dim=0)[1])


class VLLMBackend:
    """vLLM offline engine for GPU nodes: tensor parallel within a process; data parallel runs one
    process per GPU group (``eval run --data-parallel N``). ``engine`` replaces the ``vllm.LLM``
    (tests pass a stub with its ``generate`` signature)."""

    name = "vllm"

    def __init__(self, model_path: str, tensor_parallel_size: int = 1, max_new_tokens: int = 512,
                 max_model_len: int = 16384, gpu_memory_utilization: float = 0.85,
                 p_yes: str = "letters", seed: int = 0, vision_mode: str = "video",
                 max_frames: int = 64, engine: Any = None, processor: Any = None):
        self.p_yes_method = _check_p_yes(p_yes)
        self.frames_mode = _check_vision_mode(vision_mode)
        if processor is None:
            from transformers import AutoProcessor

            processor = AutoProcessor.from_pretrained(model_path)
        self.processor = processor
        # vLLM reserves encoder budget for at most this many items a prompt
        limit = {"image": max_frames} if self.frames_mode else {"video": 1}
        if engine is None:
            from vllm import LLM

            engine = LLM(model=model_path, tensor_parallel_size=tensor_parallel_size,
                         max_model_len=max_model_len,
                         gpu_memory_utilization=gpu_memory_utilization,
                         limit_mm_per_prompt=limit, seed=seed)
        self.llm = engine
        self.limit_mm_per_prompt = limit
        self.max_new_tokens = max_new_tokens
        self.p_yes_from_generation = self.p_yes_extra_passes = 0

    @staticmethod
    def _params(**kw: Any):
        try:
            from vllm import SamplingParams
        except ImportError:  # a stub engine in tests: the keyword arguments stand for them
            return dict(kw)
        return SamplingParams(**kw)

    def chat_text(self, req: Request) -> str:
        return chat_text(self.processor, req.prompt,
                         len(req.video.frames) if self.frames_mode else None)

    def engine_prompt(self, text: str, video: SampledVideo) -> dict:
        """One vLLM prompt: the chat text and the clip, as frames (images) or as a video."""
        if self.frames_mode:
            from PIL import Image

            return {"prompt": text,
                    "multi_modal_data": {"image": [Image.fromarray(f) for f in video.frames]}}
        return {
            "prompt": text,
            # vLLM's Qwen2.5-VL takes (frames, metadata) and skips its own sampling when
            # do_sample_frames is off, so it sees exactly our frames.
            "multi_modal_data": {"video": [(video.frames, {**video.metadata(),
                                                           "do_sample_frames": False})]},
            "mm_processor_kwargs": {"do_sample_frames": False},
        }

    def sampling_params(self, requests: list[Request]):
        """Greedy with the run's budget; the log-probabilities p_yes needs are asked for by token
        id (vLLM's ``logprob_token_ids``: exact values, not a top-k that may miss them): the
        answer letters at every position (``letters``) or "Yes" (``yes_token``)."""
        tok = self.processor.tokenizer
        ids: list[int] = []
        if self.p_yes_method == "letters":
            ids = letter_candidates(tok, sorted({x for r in requests
                                                 for x in (r.yes_no_letters or ())}))
        elif self.p_yes_method == "yes_token":
            ids = [_yes_token(tok)]
        return self._params(temperature=0.0, max_tokens=self.max_new_tokens,
                            **({"logprob_token_ids": ids} if ids else {}))

    def generate(self, requests: list[Request]) -> list[Result]:
        texts = [self.chat_text(r) for r in requests]
        outs = self.llm.generate([self.engine_prompt(t, r.video) for t, r in zip(texts, requests)],
                                 self.sampling_params(requests), use_tqdm=False)
        results = [Result(response=o.outputs[0].text, generated_tokens=len(o.outputs[0].token_ids),
                          prompt_tokens=len(o.prompt_token_ids)) for o in outs]
        self.p_yes_from_generation = self.p_yes_extra_passes = 0
        if self.p_yes_method == "letters":
            self._fill_p_yes_letters(requests, texts, outs, results)
        elif self.p_yes_method == "yes_token":
            yes = _yes_token(self.processor.tokenizer)
            for req, o, res in zip(requests, outs, results):
                if req.yes_no_letters:
                    first = (o.outputs[0].logprobs or [{}])[0]
                    res.p_yes = float(np.exp(first[yes].logprob))
        return results

    def _fill_p_yes_letters(self, requests, texts, outs, results) -> None:
        """p_yes at the answer position: read from the generation's own log-probabilities when
        its tokens up to there are the ones a scoring pass would feed; else one batched scoring
        pass (the prompts' cached prefix is reused) that asks for the two letters exactly."""
        tok = self.processor.tokenizer
        jobs, pairs, score_prompts = [], [], []
        for i, (req, text, out, res) in enumerate(zip(requests, texts, outs, results)):
            if not req.yes_no_letters:
                continue
            common, toks = divergent_tokens(tok, answer_prefix(res.response), req.yes_no_letters)
            gen = out.outputs[0]
            k = len(common)
            steps = gen.logprobs or []
            if (ANSWER_TAG in res.response and list(gen.token_ids[:k]) == common
                    and k < len(steps) and all(t in steps[k] for t in toks)):
                no_lp, yes_lp = (steps[k][t].logprob for t in toks)
                res.p_yes = float(1.0 / (1.0 + np.exp(no_lp - yes_lp)))
                self.p_yes_from_generation += 1
                continue
            jobs.append(i)
            pairs.append(toks)
            score_prompts.append(self.engine_prompt(text + tok.decode(common), req.video))
        if not jobs:
            return
        self.p_yes_extra_passes += len(jobs)
        params = [self._params(temperature=0.0, max_tokens=1, logprob_token_ids=list(t))
                  for t in pairs]
        for i, toks, o in zip(jobs, pairs, self.llm.generate(score_prompts, params,
                                                             use_tqdm=False)):
            lp = o.outputs[0].logprobs[0]
            no_lp, yes_lp = (lp[t].logprob for t in toks)
            results[i].p_yes = float(1.0 / (1.0 + np.exp(no_lp - yes_lp)))


BACKENDS = {"hf": HFBackend, "vllm": VLLMBackend}


def make_backend(name: str, model_path: str, **kw: Any):
    """The backend ``name`` with settings ``kw``; a setting the backend does not take is refused
    (:class:`BackendError` naming it), never dropped."""
    import inspect

    try:
        cls = BACKENDS[name]
    except KeyError:
        raise BackendError(f"unknown backend {name!r}: use {' or '.join(BACKENDS)}") from None
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "model_path"}
    unknown = sorted(set(kw) - accepted)
    if unknown:
        raise BackendError(f"backend {name!r} cannot honour {', '.join(unknown)}; it takes "
                           f"{', '.join(sorted(accepted))}")
    return cls(model_path, **kw)
