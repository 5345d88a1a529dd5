"""``camreasoner demo``: the whole pipeline on the embedded default, stage by stage.

Synthetic train and test clips -> the tiny model (a shipped pre-trained base, ``base_model``,
or a random one built here) -> SFT with LLaMA-Factory -> GRPO with the
preset's ``rl.backend`` (``trl``: the single-node backend, CPU or one GPU; ``verl``: verl + vLLM,
which needs a GPU and vLLM and is never picked on its own) -> evaluation of base, SFT and RL
checkpoints (under our protocol, ``camreasoner``) and of the geometric baseline on the held-out
synthetic test set -> one report (tables side by side with chance, plots, the HTML page, training
curves). Each stage writes ``OUT/<stage>`` and is skipped when its ``.done`` marker exists, so a
killed demo resumes where it stopped.

The settings come from a preset, one YAML file each in ``presets/`` (or a user's own), read
into the typed sections of :class:`DemoConfig` and changed with ``section.key=value``
assignments (:func:`config_with`, the CLI's ``--set``).
"""

from __future__ import annotations

from camreasoner.demo.config import (
    DEFAULT_PRESET,
    PRESET_NAMES,
    DataSection,
    DemoConfig,
    DemoError,
    EvalSection,
    RlSection,
    SftSection,
    VisionSection,
    config_from_dict,
    config_with,
    experiment_keys,
    flatten,
    load_preset,
    preset_header,
    preset_path,
    preset_summary,
    read_preset,
)
from camreasoner.demo.run import (
    CAPTION_DATASETS,
    PROTOCOL,
    STAGES,
    DataResult,
    DemoPaths,
    EvalResult,
    ModelResult,
    ReportResult,
    RlResult,
    SftResult,
    run_demo,
    stage_data,
    stage_eval,
    stage_model,
    stage_report,
    stage_rl,
    stage_sft,
)

__all__ = [
    "CAPTION_DATASETS", "DEFAULT_PRESET", "PRESET_NAMES", "PROTOCOL", "STAGES", "DataResult",
    "DataSection", "DemoConfig", "DemoError", "DemoPaths", "EvalResult", "EvalSection",
    "ModelResult", "ReportResult", "RlResult", "RlSection", "SftResult", "SftSection",
    "VisionSection", "config_from_dict", "config_with", "experiment_keys", "flatten",
    "load_preset", "preset_header", "preset_path", "preset_summary", "read_preset", "run_demo",
    "stage_data", "stage_eval", "stage_model", "stage_report", "stage_rl", "stage_sft",
]
