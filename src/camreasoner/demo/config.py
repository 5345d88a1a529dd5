"""The demo's settings: typed, nested, frozen sections, read from the preset YAML files.

A preset file (``presets/<name>.yaml``, or a user's own) holds the sections ``data``, ``model``,
``vision``, ``sft``, ``rl``, ``eval`` and the run-level keys ``workers``, ``use_cpu`` and
``base_model``; a key it leaves out takes the schema's default (the ``cpu`` preset's value, or
a neutral one for the experiment-only knobs; ``model`` is read only where ``base_model`` is "").
``--set section.key=value`` changes one value after the file; both paths check every value
against its field's type, and an error names the file (or the assignment), the dotted key and
the bad value.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from camreasoner.dev.tiny_model import TinyModelSpec
from camreasoner.errors import UserError

VisionMode = Literal["video", "frames"]
RlBackend = Literal["trl", "verl"]
EvalBackend = Literal["hf", "vllm"]
CaptionTarget = Literal["observation", "motion"]
ChainStyle = Literal["full", "short"]  # camreasoner.synth.ota.CHAIN_STYLES
McOptions = Literal["drawn", "fixed"]  # camreasoner.synth.build.MC_OPTION_MODES
# the item files the data stage writes for each of train and test (camreasoner.synth.build)
ITEM_SETS = ("items_binary.jsonl", "items_mc.jsonl", "items_vqa.jsonl")

# The shipped presets, in the order --help lists them (tests check the folder holds these).
PRESET_NAMES = ("cpu", "ci", "gpu", "gpu_video")
DEFAULT_PRESET = "cpu"

# Marks a knob that only experiments set: the default presets leave it out, at its neutral default.
_EXPERIMENT = {"experiment": True}


class DemoError(UserError, ValueError):
    """A demo setting that is wrong or cannot be honoured; the message names it (the CLI prints
    it as one line and exits with status 2)."""


class _Bad(Exception):
    """A value that does not fit its field; the caller adds where it came from."""


def _check(value: Any, tp: Any) -> Any:
    """``value`` as field type ``tp`` wants it (ints widened to floats, lists to tuples)."""
    origin = get_origin(tp)
    if origin is Literal:
        choices = get_args(tp)
        if not isinstance(value, str) or value not in choices:
            raise _Bad(f"{value!r} is not one of {', '.join(map(repr, choices))}")
        return value
    if origin is tuple:  # tuple[str, ...]: the only sequence type the schema has
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise _Bad(f"expected a list of strings, got {value!r}")
        return tuple(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise _Bad(f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Bad(f"expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _Bad(f"expected a string, got {value!r}")
        return value
    raise TypeError(f"the demo schema has a field of type {tp!r} that _check does not know")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


class _Section:
    """Checks every field on construction, so a config built in Python is held to the same
    types as one read from a file."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            tp = _hints(type(self))[f.name]
            value = getattr(self, f.name)
            if dataclasses.is_dataclass(tp):
                if not isinstance(value, tp):
                    raise DemoError(f"{type(self).__name__}.{f.name}: expected a {tp.__name__}, "
                                    f"got {value!r}")
                continue
            try:
                checked = _check(value, tp)
            except _Bad as e:
                raise DemoError(f"{type(self).__name__}.{f.name}: {e}") from None
            object.__setattr__(self, f.name, checked)  # frozen: the normalised value


@dataclass(frozen=True)
class DataSection(_Section):
    """The synthetic clips (camreasoner.synth): how many, their size and sampling."""

    train_clips: int = 800
    test_clips: int = 48
    size: int = 112  # pixels a side (motion_captioner was pre-trained on 112-pixel clips)
    frames: int = 8  # frames a clip, also the vision specs' max_frames
    fps: int = 2  # not more: camreasoner.vision.TINY_VISION says why
    sft_per_clip: int = 2  # binary chains per training clip, beside its multiple-choice ones
    # multiple-choice chains per training clip, each with the options drawn and ordered afresh
    # (the test clips keep one): more practice finding the letter of the option the chain names.
    # An experiment knob: 4 did not teach it (maintainers/experiment-log.md, 2026-12-03)
    mc_per_clip: int = field(default=1, metadata=_EXPERIMENT)
    # the multiple-choice options, in training and test clips alike
    # (camreasoner.synth.build.MC_OPTION_MODES): "drawn" and shuffled per item, so the letter
    # moves, or "fixed": one list in one order, so a movement keeps its letter
    mc_options: McOptions = "fixed"
    # "short": the O-T-A chains' cues and conclusion in a few words (~30 tokens; the presets from
    # the shipped base, which was pre-trained on them; generation budgets of 160 tokens for
    # evaluation and 96 for RL hold them whole); "full": the chains of the seed's shape (100-330
    # tokens with the tiny tokenizer)
    chain_style: ChainStyle = "short"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mc_per_clip < 1:
            raise DemoError(f"data.mc_per_clip: at least 1, got {self.mc_per_clip}")
        if self.mc_options == "fixed" and self.mc_per_clip != 1:
            raise DemoError(f"data.mc_per_clip: {self.mc_per_clip} with data.mc_options fixed, "
                            "which gives a clip one multiple-choice item")


@dataclass(frozen=True)
class VisionSection(_Section):
    # every stage's input: "video" (one video part, Qwen's temporal patches) or "frames" (the
    # sampled frames as separate images, the seed's RL and evaluation input)
    mode: VisionMode = "video"


@dataclass(frozen=True)
class SftSection(_Section):
    recipe: str = "tiny_cpu_base_sft"  # a LLaMA-Factory/recipes/ name
    epochs: float = 3.0
    # > 0: first SFT on captions for this many epochs, then the O-T-A chains from that
    # checkpoint; 0: the O-T-A chains only
    caption_epochs: float = field(default=0.0, metadata=_EXPERIMENT)
    # the caption phase's target: "observation" (the chain's <observation>, sft_caption.json) or
    # "motion" (only the motion's name, sft_motion.json: every target token is motion)
    caption_target: CaptionTarget = field(default="observation", metadata=_EXPERIMENT)
    # LLaMA-Factory settings (key=value), applied after the recipe's and the demo's own
    overrides: tuple[str, ...] = field(default=(), metadata=_EXPERIMENT)


@dataclass(frozen=True)
class RlSection(_Section):
    # "trl": the single-node backend (CPU or one GPU). "verl": verl + vLLM
    # (EasyR1/tiny_gpu_grpo.yaml; needs a GPU and vLLM; its start alone took ~5 minutes on an H100)
    backend: RlBackend = "trl"
    steps: int = 48
    generations: int = 4  # completions a prompt
    prompts: int = 4  # prompts a step
    learning_rate: float = 1e-5
    # a preset's budget holds its longest chain (tests/test_demo.py checks the GPU presets'): the
    # short chains 24-60 tokens with the tiny tokenizer, the full ones ~100-330
    completion_tokens: int = 96
    # training files whose items GRPO draws, an equal share of each
    sets: tuple[str, ...] = ("items_binary.jsonl", "items_mc.jsonl")
    # an equal share of each answer within a set (half the binary items Yes, as in SFT's chains)
    # instead of the items as they come (7% Yes): it added false Yes answers where SFT already
    # gave many (maintainers/experiment-log.md, "GRPO on videos")
    balance_answers: bool = False
    # the vision tower keeps its weights in RL, the language model alone learns (TRL and verl).
    # On the cpu preset, training it cost which-movement in every run (58.3% -> 39.6-56.2%);
    # frozen, it held (58.3%; maintainers/experiment-log.md, "GRPO on videos", runs a1-a8)
    freeze_vision_tower: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_sets("rl.sets", self.sets)


@dataclass(frozen=True)
class EvalSection(_Section):
    backend: EvalBackend = "hf"  # "vllm" on GPU machines that have it
    max_new_tokens: int = 160
    batch: int = 16
    sets: tuple[str, ...] = ("items_binary.jsonl", "items_mc.jsonl")  # test files evaluated

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_sets("eval.sets", self.sets)


def _check_sets(key: str, sets: tuple[str, ...]) -> None:
    if not sets:
        raise DemoError(f"{key}: at least one of {', '.join(ITEM_SETS)}")
    unknown = [s for s in sets if s not in ITEM_SETS]
    if unknown:
        raise DemoError(f"{key}: {', '.join(unknown)} is not one of {', '.join(ITEM_SETS)}")


@dataclass(frozen=True)
class DemoConfig(_Section):
    """Every setting of one demo run; the defaults are the ``cpu`` preset's."""

    data: DataSection = field(default_factory=DataSection)
    # the tiny random Qwen2.5-VL's shape, built where base_model is ""
    model: TinyModelSpec = field(default_factory=TinyModelSpec)
    # a shipped base's name (camreasoner.dev.base_models) or a model folder: SFT starts from it
    # (``model`` is then unused); "": from a random model of ``model``'s shape. The default is
    # the pre-trained captioner: from a random model the CPU demo's SFT stayed at chance
    # (maintainers/experiment-log.md, "The cpu preset from the captioner")
    base_model: str = "motion_captioner"
    vision: VisionSection = field(default_factory=VisionSection)
    sft: SftSection = field(default_factory=SftSection)
    rl: RlSection = field(default_factory=RlSection)
    eval: EvalSection = field(default_factory=EvalSection)
    workers: int = 2  # processes for clip synthesis and decoding
    use_cpu: bool = True  # TRL on the CPU even where a GPU is present


def _keys(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _sections(cls: type) -> list[str]:
    return [k for k in _keys(cls) if dataclasses.is_dataclass(_hints(cls)[k])]


def _unknown(cls: type, key: str, prefix: str) -> str:
    if prefix:
        return (f"{prefix}{key}: unknown key; {prefix.rstrip('.')} has "
                f"{', '.join(_keys(cls))}")
    run_keys = [k for k in _keys(cls) if k not in _sections(cls)]
    return (f"{key}: unknown section or key; sections: {', '.join(_sections(cls))}; run-level "
            f"keys: {', '.join(run_keys)}")


def _build(cls: type, raw: Any, source: str, prefix: str = "") -> Any:
    """Section ``cls`` from the mapping ``raw`` (missing keys: the defaults)."""
    if raw is None:  # an empty section (``rl:`` with nothing under it) or file
        raw = {}
    if not isinstance(raw, Mapping):
        where = prefix.rstrip(".") or "the file"
        raise DemoError(f"{source}: {where}: expected a mapping of keys, got {raw!r}")
    kwargs = {}
    for key, value in raw.items():
        if key not in _keys(cls):
            raise DemoError(f"{source}: {_unknown(cls, str(key), prefix)}")
        tp = _hints(cls)[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value, source, f"{prefix}{key}.")
            continue
        try:
            kwargs[key] = _check(value, tp)
        except _Bad as e:
            raise DemoError(f"{source}: {prefix}{key}: {e}") from None
    try:
        return cls(**kwargs)
    except DemoError as e:  # a range a section checks itself (DataSection.__post_init__)
        raise DemoError(f"{source}: {e}") from None


def config_from_dict(raw: Any, source: str = "config") -> DemoConfig:
    """A DemoConfig from nested mappings (a preset file's content); ``source`` names it in
    errors."""
    return _build(DemoConfig, raw, source)


@functools.cache
def _yaml_loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    # PyYAML reads YAML 1.1, where a number with an exponent and no dot (5e-4, the way everyone
    # writes a learning rate) is a string; YAML 1.2 reads it as the float it is.
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"))
    return Loader


def _yaml(text: str, source: str) -> Any:
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader())  # a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise DemoError(f"{source}: not valid YAML{at}: {problem}") from None


def preset_path(name: str) -> Path:
    """The shipped preset file ``name`` (one of :data:`PRESET_NAMES`)."""
    if name not in PRESET_NAMES:
        raise DemoError(f"unknown preset {name!r}; presets: {', '.join(PRESET_NAMES)} (or a "
                        "path to a YAML file of one's own)")
    return Path(str(resources.files("camreasoner.demo") / "presets" / f"{name}.yaml"))


def _as_path(name_or_path: str | Path) -> Path:
    if isinstance(name_or_path, Path) or name_or_path.endswith((".yaml", ".yml")) or \
            "/" in name_or_path:
        return Path(name_or_path)
    return preset_path(name_or_path)


def read_preset(name_or_path: str | Path) -> dict[str, Any]:
    """The raw mapping a preset file holds (by shipped name or path), unchecked."""
    path = _as_path(name_or_path)
    try:
        text = path.read_text()
    except OSError as e:
        raise DemoError(f"{path}: cannot read the preset file ({e.strerror})") from None
    return _yaml(text, str(path))


def load_preset(name_or_path: str | Path) -> DemoConfig:
    """The DemoConfig of a shipped preset (``"ci"``) or of a YAML file (``"my.yaml"``, a Path)."""
    return config_from_dict(read_preset(name_or_path), str(_as_path(name_or_path)))


def preset_header(name_or_path: str | Path) -> list[str]:
    """The paragraphs of a preset file's opening comment: the launch command first, then the
    description (``--help`` shows it), then any notes."""
    lines = []
    for line in _as_path(name_or_path).read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    paragraphs, current = [], []
    for line in [*lines, ""]:
        if line:
            current.append(line)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    return paragraphs


def preset_summary(name_or_path: str | Path) -> str:
    """A preset's description: the paragraph after its launch command."""
    header = preset_header(name_or_path)
    return header[1] if len(header) > 1 else ""


def _resolve(path: list[str], assignment: str) -> Any:
    """The field type at dotted ``path``; errors name the assignment."""
    cls: type = DemoConfig
    for i, part in enumerate(path):
        prefix = ".".join(path[:i]) + "." if i else ""
        if not dataclasses.is_dataclass(cls):
            raise DemoError(f"--set {assignment}: {prefix.rstrip('.')} is not a section")
        if part not in _keys(cls):
            raise DemoError(f"--set {assignment}: {_unknown(cls, part, prefix)}")
        cls = _hints(cls)[part]
    if dataclasses.is_dataclass(cls):
        example = f"{path[-1]}.{_keys(cls)[0]}=..."
        raise DemoError(f"--set {assignment}: {'.'.join(path)} is a section: set one of its "
                        f"keys ({example})")
    return cls


def _replaced(obj: Any, path: list[str], value: Any) -> Any:
    if len(path) == 1:
        return dataclasses.replace(obj, **{path[0]: value})
    return dataclasses.replace(obj, **{path[0]: _replaced(getattr(obj, path[0]), path[1:],
                                                          value)})


def config_with(cfg: DemoConfig, assignments: Iterable[str]) -> DemoConfig:
    """``cfg`` with ``section.key=value`` assignments (the CLI's ``--set``), in order. A value is
    read as YAML (``8000``, ``5e-4``, ``true``, ``[a, b]``), then checked against the field's
    type; a list may also be given comma-separated (``sft.overrides=learning_rate=5e-4,
    warmup_steps=50``). Raises DemoError naming the assignment."""
    for a in assignments:
        key, sep, raw = a.partition("=")
        key = key.strip()
        if not sep or not key:
            raise DemoError(f"--set {a}: expected section.key=value (e.g. data.train_clips=8000)")
        path = key.split(".")
        tp = _resolve(path, a)
        value = _yaml(raw, f"--set {a}")
        if get_origin(tp) is tuple and (value is None or isinstance(value, str)):
            # a comma-separated list: the only way a shell user writes one without brackets
            value = [v.strip() for v in (value or "").split(",") if v.strip()]
        try:
            value = _check(value, tp)
        except _Bad as e:
            raise DemoError(f"--set {a}: {key}: {e}") from None
        try:
            cfg = _replaced(cfg, path, value)
        except DemoError as e:
            raise DemoError(f"--set {a}: {e}") from None
    return cfg


def flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings (``asdict(cfg)``, a demo_config.json) as ``{"data.train_clips": 48, ...}``."""
    flat: dict[str, Any] = {}
    for k, v in settings.items():
        if isinstance(v, Mapping):
            flat.update(flatten(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


def experiment_keys(cls: type = DemoConfig, prefix: str = "") -> list[str]:
    """The dotted keys only experiments set (the default presets leave them out)."""
    keys = []
    for f in dataclasses.fields(cls):
        tp = _hints(cls)[f.name]
        if dataclasses.is_dataclass(tp):
            keys += experiment_keys(tp, f"{prefix}{f.name}.")
        elif f.metadata.get("experiment"):
            keys.append(f"{prefix}{f.name}")
    return keys
