"""TRL's GRPOTrainer, taught to read a clip: the video (or its frames as images) of each row goes
into generation and into every log-probability pass, with Qwen2.5-VL's multimodal positions.

TRL 0.24 carries image tensors only: a video part in the prompt is dropped (TRL issues #4144,
#3590), and even for images its loss pass leaves out ``mm_token_type_ids``, without which
transformers 5 gives the vision tokens plain text positions; the samples were drawn under the
right ones, so the policy it trained was not the one that sampled. Here both modes build their
inputs with :func:`camreasoner.media.model_inputs.processor_inputs`, the evaluation's own, and
the loss sees the positions generation saw.

What is overridden, and why each:
- ``_generate_single_turn``: the processor call with the rows' clips, left-padded, then
  ``generate`` (the transformers path on one process only: vLLM, paged generation, DeepSpeed
  and FSDP are refused in ``__init__``). ``max_prompt_length`` is not applied: a cut prompt
  would cut the clip's tokens.
- ``_generate_and_score_completions``: the clip tensors join the buffered batch, split per row
  (``clip_*`` keys) so TRL's shuffle and split keep each row's pixels with its tokens.
- ``_compute_loss`` / ``_get_per_token_logps_and_entropies``: the loss pass gets those tensors.

Importing this module imports TRL (after :func:`fix_trl_availability_flags`, which its import
needs under transformers 5); ``camreasoner.rl.trl_backend`` imports it lazily.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from camreasoner.media.model_inputs import chat_text, processor_inputs, text_token_types
from camreasoner.media.video import SampledVideo
from camreasoner.rl.trl_backend import fix_trl_availability_flags

fix_trl_availability_flags()  # before TRL's import: see its docstring

from trl import GRPOTrainer
from trl.trainer.utils import entropy_from_logits, selective_log_softmax

# The per-row clip tensors of a buffered batch. Lists (one entry a row) where rows differ in size.
CLIP_KEYS = ("clip_pixel_values", "clip_grid_thw", "clip_second_per_grid_ts",
             "clip_mm_token_type_ids")


class ClipGRPOTrainer(GRPOTrainer):
    """GRPO on rows ``{"prompt": text, "clip": key, ...}`` whose clips are ``clips[key]``
    (decoded and sampled once, by the vision spec). ``frames_mode``: each clip's frames go in as
    separate images instead of one video."""

    def __init__(self, *args: Any, clips: Mapping[str, SampledVideo], frames_mode: bool,
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        if (self.use_vllm or self.use_transformers_paged or self.use_liger_loss
                or self.is_deepspeed_enabled or self.is_fsdp_enabled):
            raise ValueError("ClipGRPOTrainer generates with transformers' generate in one "
                             "process and computes the plain loss: use_vllm, "
                             "use_transformers_paged, use_liger_loss, DeepSpeed and FSDP must be "
                             "off")
        self.clips = clips
        self.frames_mode = frames_mode
        self._rows_clips: list[SampledVideo] | None = None
        self._row_clip_inputs: dict[str, Any] | None = None
        self._loss_clip_inputs: dict[str, Any] | None = None

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        self._rows_clips = [self.clips[row["clip"]] for row in inputs]
        try:
            output = super()._generate_and_score_completions(inputs)
            clip_inputs = self._row_clip_inputs
        finally:
            self._rows_clips = self._row_clip_inputs = None
        if clip_inputs["clip_mm_token_type_ids"].shape != output["prompt_ids"].shape:
            raise ValueError("the clip inputs' token types do not line up with the prompts")
        output.update(clip_inputs)
        return output

    def _generate_single_turn(self, prompts: list[str], images: list | None):
        if images is not None or self._rows_clips is None:
            raise ValueError("ClipGRPOTrainer reads each row's clip from its 'clip' key; the "
                             "dataset must not carry 'image' or 'images' columns")
        from trl.models import unwrap_model_for_generation

        processor = self.processing_class
        n_frames = [len(v.frames) if self.frames_mode else None for v in self._rows_clips]
        texts = [chat_text(processor, prompt, n) for prompt, n in zip(prompts, n_frames)]
        # left-padded, as TRL pads the prompt ids it keeps: the token types must line up with them
        inputs = processor_inputs(processor, texts, self._rows_clips, self.frames_mode,
                                  padding_side="left")
        inputs = {k: v.to(self.accelerator.device) for k, v in inputs.items()}
        with (unwrap_model_for_generation(self.model_wrapped, self.accelerator) as model,
              torch.no_grad()):
            sequences = model.generate(**inputs, generation_config=self.generation_config,
                                       disable_compile=True)
        prompt_ids, prompt_mask = inputs["input_ids"], inputs["attention_mask"]
        completion_ids = sequences[:, prompt_ids.size(1):]
        # Everything after the first EOS is masked (as TRL's own transformers path does).
        is_eos = completion_ids == self.eos_token_id
        first_eos = torch.where(is_eos.any(dim=1), is_eos.int().argmax(dim=1),
                                torch.full_like(is_eos[:, 0], is_eos.size(1), dtype=torch.long))
        keep = torch.arange(is_eos.size(1), device=is_eos.device)[None] <= first_eos[:, None]
        self._row_clip_inputs = self._per_row(inputs, len(prompts))
        return ([p[m].tolist() for p, m in zip(prompt_ids, prompt_mask.bool())],
                [c[m].tolist() for c, m in zip(completion_ids, keep)], None,
                dict(self._row_clip_inputs))

    def _per_row(self, inputs: Mapping[str, torch.Tensor], rows: int) -> dict[str, Any]:
        """The processor's batch tensors as one entry a row. Pixel rows follow the grids in row
        order: a row's grids are its video (1) or its frames (one an image)."""
        grid_key, pixel_key = (("image_grid_thw", "pixel_values") if self.frames_mode
                               else ("video_grid_thw", "pixel_values_videos"))
        grids = inputs[grid_key]
        per_row_grids = [len(v.frames) if self.frames_mode else 1 for v in self._rows_clips]
        if sum(per_row_grids) != grids.size(0) or len(per_row_grids) != rows:
            raise ValueError(f"{grids.size(0)} vision grids for {rows} rows, expected "
                             f"{sum(per_row_grids)}")
        grid_rows = list(torch.split(grids, per_row_grids))
        pixels = list(torch.split(inputs[pixel_key], [int(g.prod(-1).sum()) for g in grid_rows]))
        seconds = inputs.get("second_per_grid_ts")
        return {"clip_pixel_values": pixels, "clip_grid_thw": grid_rows,
                "clip_second_per_grid_ts": None if seconds is None else list(seconds),
                "clip_mm_token_type_ids": inputs["mm_token_type_ids"]}

    def _model_inputs(self, clip: Mapping[str, Any], start: int, stop: int,
                      length: int) -> dict[str, Any]:
        """Rows ``start:stop`` of a batch's clip tensors as the model's keyword arguments, the
        token types padded with text (0) to the prompt + completion ``length``."""
        types = text_token_types(clip["clip_mm_token_type_ids"][start:stop], length)
        pixels = torch.cat(clip["clip_pixel_values"][start:stop])
        grids = torch.cat(clip["clip_grid_thw"][start:stop])
        if self.frames_mode:
            return {"pixel_values": pixels, "image_grid_thw": grids, "mm_token_type_ids": types}
        seconds = clip["clip_second_per_grid_ts"]
        extra = {} if seconds is None else {"second_per_grid_ts": torch.stack(seconds[start:stop])}
        return {"pixel_values_videos": pixels, "video_grid_thw": grids,
                "mm_token_type_ids": types, **extra}

    def _compute_loss(self, model, inputs):
        self._loss_clip_inputs = {k: inputs[k] for k in CLIP_KEYS}
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._loss_clip_inputs = None

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                           batch_size=None, compute_entropy=False, **kwargs):
        """TRL's computation (logits of the completion positions at the sampling temperature),
        with each row's clip tensors; the image keywords TRL passes are all None here."""
        clip = {k: kwargs.pop(k) for k in CLIP_KEYS if k in kwargs} or self._loss_clip_inputs
        if clip is None:
            raise ValueError("no clip tensors for this log-probability pass")
        if any(v is not None for v in kwargs.values()):
            raise ValueError(f"unexpected image inputs: {sorted(k for k, v in kwargs.items() if v is not None)}")
        batch_size = batch_size or input_ids.size(0)
        all_logps, all_entropies = [], []
        for start in range(0, input_ids.size(0), batch_size):
            stop = min(start + batch_size, input_ids.size(0))
            model_inputs = {"input_ids": input_ids[start:stop],
                            "attention_mask": attention_mask[start:stop], "use_cache": False,
                            **self._model_inputs(clip, start, stop, input_ids.size(1))}
            if "logits_to_keep" in self.model_kwarg_keys:
                model_inputs["logits_to_keep"] = logits_to_keep + 1
            logits = model(**model_inputs).logits[:, :-1, :][:, -logits_to_keep:, :]
            logits = logits / self.temperature
            all_logps.append(selective_log_softmax(logits, input_ids[start:stop, -logits_to_keep:]))
            if compute_entropy:
                with torch.no_grad():
                    all_entropies.append(entropy_from_logits(logits))
        return (torch.cat(all_logps), torch.cat(all_entropies) if compute_entropy else None)
