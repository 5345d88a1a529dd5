"""The ``camreasoner`` command line. Subcommands import their heavy modules only when run."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("camreasoner")


class _Parser(argparse.ArgumentParser):
    """``--help`` shows each option's default; a usage error is one line on stderr and exit
    status 2 (argparse's own status), without the usage block."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")


# --- data -------------------------------------------------------------------------------------
def cmd_build_benchmark(args: argparse.Namespace) -> int:
    from camreasoner.data.benchmark import build_benchmark

    manifest = build_benchmark(args.camerabench_dir, args.out)
    for name, entry in manifest["files"].items():
        log.info("wrote %s: %d items", Path(args.out) / name, entry["items"])
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from camreasoner.data.check import CheckLimits, check_file, format_report, write_report

    limits = CheckLimits(min_frames=args.min_frames, min_duration=args.min_duration,
                         decode_all=args.decode_all)
    report = check_file(args.file, args.video_root, limits, workers=args.workers, fmt=args.format)
    print(format_report(report))
    if args.report:
        write_report(report, args.report)
    return 0 if report.ok else 1


def _report_skipped(errors: list, out: str) -> None:
    """List every skipped record on stderr and in ``<out>.skipped.txt``."""
    if not errors:
        return
    lines = [str(e) for e in errors]
    Path(str(out) + ".skipped.txt").write_text("\n".join(lines) + "\n")
    for line in lines:
        log.warning("skipped %s", line)
    log.warning("%d record(s) skipped (listed in %s.skipped.txt)", len(lines), out)


def _read_input(args: argparse.Namespace):
    """Items of the input file, and the records that could not be read (with --skip-bad)."""
    from camreasoner.data import readers
    from camreasoner.data.schema import DataError

    if args.src_format in readers.READERS:  # folder and caption readers
        return readers.READERS[args.src_format](args.input), []
    if args.src_format == "verl":
        from camreasoner.data.convert import read_verl_parquet

        if not args.video_root:
            raise DataError("--video-root is needed to read verl parquet back into items")
        return read_verl_parquet(args.input, args.video_root), []
    result = readers.read_records(args.input, args.src_format, collect=True)
    log.info("%s: %d records read as %s", args.input, result.n_records, result.format)
    if result.errors and not args.skip_bad:
        raise DataError(f"{len(result.errors)} of {result.n_records} records cannot be read, "
                        "nothing written (--skip-bad converts the rest):\n"
                        + "\n".join(f"  {e}" for e in result.errors), where=args.input)
    return result.items, result.errors


def cmd_convert(args: argparse.Namespace) -> int:
    from camreasoner.data import convert
    from camreasoner.data.schema import DataError, write_items
    from camreasoner.protocols import protocol
    from camreasoner.vision import vision_preset

    items, skipped = _read_input(args)
    if args.to == "items":
        n = write_items(args.out, items)
    elif args.to == "sharegpt":
        convert.write_sharegpt(items, args.out, dataset_name=args.dataset_name,
                               instruction=args.instruction,
                               allow_answer_only=args.allow_answer_only)
        n = len(items)
    else:
        if not args.video_root:
            raise DataError("--video-root is required for --to verl (videos are stored as "
                            "absolute file:// URIs)")
        rl = protocol(args.protocol).rl
        spec = vision_preset(args.vision) if args.vision else rl.vision
        n, bad = convert.write_verl_parquet(
            items, args.out, args.video_root, spec, args.instruction, model=args.model,
            max_prompt_tokens=rl.max_prompt_tokens if spec.mode == "frames" else None,
            workers=args.workers, skip_bad=args.skip_bad)
        skipped = skipped + bad
    _report_skipped(skipped, args.out)
    log.info("wrote %d items to %s (%s)", n, args.out, args.to)
    return 0


# --- download ---------------------------------------------------------------------------------
def cmd_download(args: argparse.Namespace) -> int:
    from camreasoner import download

    root = Path(args.data_root)
    only = [s for s in args.only.split(",") if s] if args.only else None
    # Every problem with the arguments is reported at once, one line each, without a traceback.
    problems = []
    revisions: dict[str, str] = {}
    try:
        revisions = download.parse_revisions(args.revision)
    except download.DownloadError as e:
        problems.append(str(e))
    try:
        steps = download.make_plan(args.base_model, args.with_checkpoint, only, revisions, root)
    except download.DownloadError as e:
        problems.append(str(e))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2
    if args.plan:
        if args.json:
            print(json.dumps(download.plan_status(steps, root), indent=2))
        else:
            print(download.format_plan(steps, root))
        return 0
    try:
        download.download(root, steps)
    except download.DownloadError as e:
        print(str(e), file=sys.stderr)
        return 2
    return 0


def _run_answer_reading(predictions: str) -> str | None:
    """The answer reading recorded by ``eval run`` beside a predictions file, if any."""
    cfg = Path(predictions).parent / "config.json"
    if cfg.is_file():
        return json.loads(cfg.read_text()).get("answer_reading")
    return None


def cmd_eval_score(args: argparse.Namespace) -> int:
    from camreasoner.eval.score import score_files
    from camreasoner.protocols import SEED

    reading = (args.answer_reading or _run_answer_reading(args.predictions)
               or SEED.eval.answer_reading)
    metrics = score_files(args.items, args.predictions, strict_format=args.strict_format,
                          reading=reading)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(metrics, indent=2) + "\n")
    if "binary" in metrics:
        b = metrics["binary"]
        log.info("binary over %d primitives: accuracy %.1f, AP %.1f, AP of p_yes %s "
                 "(answers read the %s way)", len(b["per_task"]), b["avg_acc"], b["avg_ap"] or 0,
                 "–" if b["avg_ap_prob"] is None else f"{b['avg_ap_prob']:.1f}", reading)
    if "vqa" in metrics:
        log.info("VQA avg overall %.1f", metrics["vqa"]["avg_overall"])
    log.info("metrics written to %s", args.out)
    return 0


def cmd_eval_permute(args: argparse.Namespace) -> int:
    from camreasoner.eval.permutation import permutation_files
    from camreasoner.tables import md_table

    record = permutation_files(args.items, args.predictions, rounds=args.rounds, seed=args.seed,
                               progress=True)
    rows = [[k, f"{v['observed']:.1f}", f"{v['null_mean']:.1f}", f"{v['null_p95']:.1f}",
             f"{v['p']:.4f}"] for k, v in record["tests"].items()]
    log.info("clips shuffled among each task's items, %d rounds:\n%s", args.rounds,
             md_table(["statistic", "observed", "shuffled mean", "shuffled 95th pct", "p"], rows))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
        log.info("written to %s (as RUN/permutation.json, eval report shows it)", args.out)
    return 0


def cmd_eval_run(args: argparse.Namespace) -> int:
    from camreasoner.eval.runner import RunConfig, run_data_parallel, run_eval
    from camreasoner.vision import VisionSpec, vision_preset

    overrides = {}
    if args.vision_json:
        overrides["vision"] = VisionSpec(**json.loads(args.vision_json)).to_dict()
    elif args.vision:
        overrides["vision"] = vision_preset(args.vision).to_dict()
    for name in ("prompt", "max_new_tokens", "max_model_len", "p_yes"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    cfg = RunConfig.from_protocol(
        args.protocol, model=args.model, items=args.items, video_root=args.video_root,
        backend=args.backend, batch_size=args.batch_size, workers=args.workers,
        cache_dir=args.cache_dir, shard_index=args.shard_index, num_shards=args.num_shards,
        backend_kwargs=({"tensor_parallel_size": args.tensor_parallel_size}
                        if args.backend == "vllm" else {}),
        **overrides)
    if args.vision_mode:
        cfg.vision = VisionSpec(**{**cfg.vision, "mode": args.vision_mode}).to_dict()
    if args.data_parallel > 1:
        summary = run_data_parallel(cfg, args.out, args.data_parallel,
                                    gpus_per_proc=args.tensor_parallel_size,
                                    retry_errors=args.retry_errors)
    else:
        summary = run_eval(cfg, args.out, retry_errors=args.retry_errors,
                           progress=not args.no_progress)
    log.info("run summary: %s", json.dumps(summary))
    return 0


def cmd_eval_report(args: argparse.Namespace) -> int:
    from camreasoner.eval.report import build_report

    out = build_report(args.runs, args.out, max_items=args.max_items)
    print(f"report: {out / 'report.html'}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from camreasoner.errors import UserError
    from camreasoner.synth.build import build
    from camreasoner.taxonomy import SPEED_NAMES, parse_motion

    motions = [m for m in args.motions.split(",") if m] if args.motions else None
    speeds = tuple(s for s in args.speeds.split(",") if s)
    try:
        for m in motions or ():
            parse_motion(m)
    except ValueError as e:
        raise UserError(f"--motions: {e}") from None
    unknown = [s for s in speeds if s not in SPEED_NAMES]
    if unknown or not speeds:
        raise UserError(f"--speeds: {unknown or 'none given'}: use {', '.join(SPEED_NAMES)}")
    if args.mc_per_clip < 1:
        raise UserError(f"--mc-per-clip: at least 1, got {args.mc_per_clip}")
    from camreasoner.synth.build import check_mc_options

    try:
        check_mc_options(args.mc_options, args.mc_per_clip, motions or ())
    except ValueError as e:
        raise UserError(f"--mc-options {args.mc_options}: {e}") from None
    summary = build(args.out, args.clips, seed=args.seed, size=args.size, frames=args.frames,
                    fps=args.fps, workers=args.workers, motions=motions, speeds=speeds,
                    sft_per_clip=args.sft_per_clip, chain_style=args.chain_style,
                    mc_per_clip=args.mc_per_clip, mc_options=args.mc_options)
    print(json.dumps(summary["items"]))
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from camreasoner.baseline.geometric import run_baseline

    summary = run_baseline(args.items, args.video_root, args.out, workers=args.workers)
    log.info("baseline: %s", json.dumps(summary))
    if summary["clips"] and summary["clip_errors"] == summary["clips"]:
        # every clip failed: the predictions file holds only errors (a wrong --video-root?)
        from camreasoner.errors import UserError

        raise UserError(f"no clip of {args.items} could be read under {args.video_root} "
                        f"({summary['clip_errors']} of {summary['clips']} failed; reasons in "
                        f"{args.out})")
    return 0


def cmd_sft(args: argparse.Namespace) -> int:
    from camreasoner.sft import run_sft

    settings = {"model_name_or_path": args.model, "dataset": args.dataset,
                "dataset_dir": args.dataset_dir, "media_dir": args.media_dir,
                "output_dir": args.out}
    out = run_sft(args.recipe, settings, args.overrides or [], check=not args.no_check,
                  dry_run=args.dry_run)
    if args.export_lora_to and not args.dry_run:
        import yaml

        from camreasoner.sft import export_lora

        cfg = yaml.safe_load((out / "camreasoner_sft_config.yaml").read_text())
        export_lora(cfg["model_name_or_path"], str(out), args.export_lora_to,
                    cfg.get("template", "qwen2_vl"))
    return 0


def cmd_rl(args: argparse.Namespace) -> int:
    overrides = list(args.overrides or [])
    if args.backend == "verl":
        from camreasoner.rl.launch import VerlLaunch, run

        cfg = VerlLaunch(model=args.model, train_file=args.train_file, val_file=args.val_file,
                         output_dir="", recipe=args.recipe, protocol=args.protocol,
                         video_root=args.video_root, n_gpus=args.n_gpus, n_nodes=args.n_nodes,
                         tensor_parallel=args.tensor_parallel_size, vision=args.vision,
                         workers=args.workers,
                         overrides=overrides)
        cfg.output_dir = args.out or f"outputs/rl/{cfg.recipe_name()}"
        run(cfg, dry_run=args.dry_run)
        return 0
    from camreasoner.rl.trl_backend import TrlConfig, train
    from camreasoner.vision import VisionSpec

    if not args.video_root:
        raise SystemExit("--video-root is required for --backend trl")
    cfg = TrlConfig(model=args.model, items=args.train_file, video_root=args.video_root,
                    output_dir=args.out or "outputs/rl",
                    vision=VisionSpec(fps=args.fps, max_frames=args.max_frames,
                                      max_pixels=args.max_pixels,
                                      min_pixels=min(args.max_pixels, 16 * 784),
                                      mode=args.vision_mode),
                    max_steps=args.max_steps, learning_rate=args.lr,
                    num_generations=args.num_generations, per_device_batch=args.batch_size,
                    max_completion_length=args.max_completion_length,
                    temperature=args.temperature, use_cpu=args.cpu,
                    freeze_vision_tower=args.freeze_vision_tower)
    if args.dry_run:
        print(cfg)
        return 0
    train(cfg)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from camreasoner.demo import config_with, load_preset, run_demo

    preset = Path(args.preset_file) if args.preset_file else args.preset
    cfg = config_with(load_preset(preset), args.set or [])
    # a folder made with other settings, or a backend this machine lacks, is refused inside
    # (a DemoError: a UserError, which main prints as one line, status 2)
    out = run_demo(args.out, cfg, until=args.until)
    if args.until:
        print(f"demo output (stopped after {args.until}): {out}")
        return 0
    print(f"demo report: {out / 'report' / 'report.html'}")
    print(f"demo output: {out}")
    return 0


# --- dev --------------------------------------------------------------------------------------
def cmd_tiny_model(args: argparse.Namespace) -> int:
    from camreasoner.dev.tiny_model import TinyModelSpec, build_tiny_model

    build_tiny_model(args.out, TinyModelSpec(seed=args.seed))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from camreasoner import __version__, prompts
    from camreasoner.data.readers import READERS, RECORD_FORMATS
    from camreasoner.eval.backends import P_YES_METHODS
    from camreasoner.protocols import DEFAULT_PROTOCOL, EVAL_PROTOCOLS, PROTOCOLS
    from camreasoner.synth.ota import CHAIN_STYLES
    from camreasoner.vision import PRESETS as VISION_PRESETS

    p = _Parser(prog="camreasoner", description=__doc__)
    p.add_argument("--version", action="version", version=__version__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--debug", action="store_true",
                   help="show the traceback of an error instead of its one-line message")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="build, convert and check item files").add_subparsers(
        dest="data_command", required=True)
    b = data.add_parser("build-benchmark", help="CameraBench annotations -> our item files")
    b.add_argument("--camerabench-dir", required=True,
                   help="the official annotations: binary_classification/, vqa_and_retrieval/")
    b.add_argument("--out", required=True, help="folder for the item files and manifest.json")
    b.set_defaults(func=cmd_build_benchmark)

    c = data.add_parser("check", help="validate a data file (items, or the seed's RL, evaluation "
                        "or ShareGPT files) and its videos")
    c.add_argument("file", help="the data file to check")
    c.add_argument("--format", default="auto", choices=("auto", *RECORD_FORMATS),
                   help="record format (auto: .jsonl is items, a JSON list is told by its keys)")
    c.add_argument("--video-root", help="check videos too (exists, inside root, decodes, length)")
    c.add_argument("--min-frames", type=int, default=2, help="fewest frames a clip may have")
    c.add_argument("--min-duration", type=float, default=0.0,
                   help="shortest clip in seconds (0: no limit)")
    c.add_argument("--decode-all", action="store_true", help="decode every frame, not the first")
    c.add_argument("--workers", type=int, default=None,
                   help="video-probing processes (default: up to 4)")
    c.add_argument("--report", help="write the full report as JSON here")
    c.set_defaults(func=cmd_check)

    v = data.add_parser("convert", help="between item files, the seed's files, ShareGPT (SFT) and "
                        "verl parquet (RL)")
    v.add_argument("input", help="the file to convert")
    v.add_argument("--from", dest="src_format", default="auto",
                   choices=("auto", *RECORD_FORMATS, *READERS, "verl"),
                   help="input format (auto: .jsonl is items, a JSON list is told by its keys)")
    v.add_argument("--to", choices=("items", "sharegpt", "verl"), required=True)
    v.add_argument("--out", required=True, help="the file to write")
    v.add_argument("--video-root", help="where the records' video paths resolve")
    v.add_argument("--protocol", choices=tuple(PROTOCOLS), default=DEFAULT_PROTOCOL,
                   help="--to verl: the RL input of this protocol (seed: 1 fps frames as images "
                        "fitted into 16,384 tokens; camreasoner: videos)")
    v.add_argument("--vision", choices=tuple(VISION_PRESETS),
                   help="--to verl: a vision preset instead of the protocol's")
    v.add_argument("--model", help="--to verl in the seed protocol: the model whose processor "
                                   "counts the prompt's tokens")
    v.add_argument("--workers", type=int, default=0, help="--to verl: frame-decoding processes")
    v.add_argument("--skip-bad", action="store_true",
                   help="convert the readable records and list the others (default: a bad "
                        "record stops the conversion and nothing is written)")
    v.add_argument("--instruction", default=prompts.DEFAULT_INSTRUCTION,
                   choices=tuple(prompts.INSTRUCTIONS))
    v.add_argument("--dataset-name", help="dataset_info.json key (default: the file stem)")
    v.add_argument("--allow-answer-only", action="store_true",
                   help="ShareGPT: train on <answer>X</answer> for items without an O-T-A response")
    v.set_defaults(func=cmd_convert)

    d = sub.add_parser("download", help="fetch models, data and videos into one data root")
    d.add_argument("--data-root", default="data_root", help="where everything lands")
    d.add_argument("--base-model", default="Qwen/Qwen2.5-VL-7B-Instruct",
                   help="hub id of the base model")
    d.add_argument("--with-checkpoint", action="store_true",
                   help="also fetch the released CamReasoner-7B checkpoint")
    d.add_argument("--only", help="comma-separated step keys (see --plan)")
    d.add_argument("--plan", action="store_true",
                   help="print each step's source, revision, destination and state; fetch nothing")
    d.add_argument("--json", action="store_true", help="with --plan: print the plan as JSON")
    d.add_argument("--revision", action="append", default=[], metavar="KEY=SHA",
                   help="fetch step KEY at commit SHA (repeatable); overrides download.lock.json "
                        "and the default table")
    d.set_defaults(func=cmd_download)

    ev = sub.add_parser("eval", help="score, run and report CameraBench evaluations"
                        ).add_subparsers(dest="eval_command", required=True)
    es = ev.add_parser("score", help="metrics from items + predictions")
    es.add_argument("--items", required=True, help="item file (ours or the seed's)")
    es.add_argument("--predictions", required=True, help="RUN/predictions.jsonl")
    es.add_argument("--out", required=True, help="the metrics JSON to write")
    es.add_argument("--strict-format", action="store_true",
                    help="strict reading: only answers inside <answer> tags (default: also bare "
                         "answers)")
    es.add_argument("--answer-reading", choices=("seed", "strict"),
                    help="seed: the seed's eval_bench.py (first <answer>, else the whole text, "
                         "its first character); strict: exactly one unhedged letter. Default: "
                         "what the run's config.json says, else seed")
    es.set_defaults(func=cmd_eval_score)

    epm = ev.add_parser("permute", help="does the model read the clip? scores against its own "
                        "answers shuffled among clips (a permutation test)")
    epm.add_argument("--items", required=True, help="item file (ours or the seed's)")
    epm.add_argument("--predictions", required=True, help="RUN/predictions.jsonl")
    epm.add_argument("--rounds", type=int, default=1000, help="shuffles")
    epm.add_argument("--seed", type=int, default=0, help="of the shuffles")
    epm.add_argument("--out", help="write the test's JSON here")
    epm.set_defaults(func=cmd_eval_permute)

    er = ev.add_parser("run", help="answer every item with a model (resumable)")
    er.add_argument("--model", required=True, help="a Hugging Face model folder")
    er.add_argument("--items", required=True, help="item file (ours or the seed's)")
    er.add_argument("--video-root", required=True, help="where the items' videos resolve")
    er.add_argument("--backend", choices=("hf", "vllm"), default="hf",
                    help="transformers (CPU, one GPU) or vLLM (GPU nodes)")
    er.add_argument("--out", required=True, help="run folder (predictions.jsonl, config, summary)")
    er.add_argument("--protocol", choices=tuple(EVAL_PROTOCOLS), default=DEFAULT_PROTOCOL,
                    help="the settings to start from (camreasoner.protocols): seed = the seed's "
                         "eval_bench.py (1 fps frames as images, its prompt tail, 8,192 new "
                         "tokens); camreasoner = our training prompt and video input; official = "
                         "CameraBench's P(Yes) protocol. The flags below change single settings.")
    er.add_argument("--batch-size", type=int, default=8, help="items a generate call")
    er.add_argument("--workers", type=int, default=2, help="frame-decoding processes")
    er.add_argument("--cache-dir", help="cache decoded frames here (keyed by content + spec)")
    er.add_argument("--max-new-tokens", type=int, help="default: the protocol's")
    er.add_argument("--max-model-len", type=int, help="vLLM context length; default: the "
                                                      "protocol's")
    er.add_argument("--vision", choices=tuple(VISION_PRESETS),
                    help="vision preset instead of the protocol's")
    er.add_argument("--vision-json", help=argparse.SUPPRESS)
    er.add_argument("--vision-mode", choices=("video", "frames"),
                    help="frames: the clip as separate images (the seed's evaluation; models "
                         "trained by rl --backend trl)")
    er.add_argument("--prompt", choices=tuple(prompts.EVAL_PROMPTS),
                    help="evaluation prompt instead of the protocol's")
    er.add_argument("--p-yes", choices=P_YES_METHODS,
                    help="how p_yes is computed for yes/no items (letters: at the answer "
                         "position; yes_token: P(Yes) at the first token; off)")
    er.add_argument("--retry-errors", action="store_true", help="run failed items again")
    er.add_argument("--tensor-parallel-size", type=int, default=1,
                    help="vLLM: GPUs a model is split over")
    er.add_argument("--data-parallel", type=int, default=1,
                    help="processes, each on --tensor-parallel-size GPUs and a shard of items")
    er.add_argument("--shard-index", type=int, default=0, help="this process's shard")
    er.add_argument("--num-shards", type=int, default=1, help="shards of the items")
    er.add_argument("--no-progress", action="store_true", help="no progress bar")
    er.set_defaults(func=cmd_eval_run)

    ep = ev.add_parser("report", help="tables, plots and an HTML page for one or more runs")
    ep.add_argument("runs", nargs="+", help="run folders (from eval run)")
    ep.add_argument("--out", required=True, help="the report folder")
    ep.add_argument("--max-items", type=int, default=300, help="items shown in the HTML list")
    ep.set_defaults(func=cmd_eval_report)

    sy = sub.add_parser("synth", help="render synthetic camera-motion clips with exact labels")
    sy.add_argument("--out", required=True, help="output folder")
    sy.add_argument("--clips", type=int, required=True, help="clips to render")
    sy.add_argument("--seed", type=int, default=0, help="random seed")
    sy.add_argument("--size", type=int, default=224, help="frame side in pixels")
    sy.add_argument("--frames", type=int, default=16, help="frames a clip")
    sy.add_argument("--fps", type=int, default=8, help="frames a second")
    sy.add_argument("--workers", type=int, default=1, help="rendering processes")
    sy.add_argument("--motions", help="comma-separated, e.g. Pan_Left,Zoom_In,Move_In+Pan_Right,"
                                      "Static,Shake (default: the documented mix)")
    sy.add_argument("--speeds", default="slow,regular,fast",
                    help="comma-separated from subtle,slow,regular,fast")
    sy.add_argument("--sft-per-clip", type=int, default=2,
                    help="binary items per clip in sft.json / rl.parquet (plus every MC item)")
    sy.add_argument("--mc-per-clip", type=int, default=1,
                    help="multiple-choice items per clip, the options drawn afresh for each")
    sy.add_argument("--mc-options", choices=("drawn", "fixed"), default="drawn",
                    help="multiple-choice options: drawn and shuffled per item, or the same list "
                         "in one order (a movement keeps its letter)")
    sy.add_argument("--chain-style", choices=CHAIN_STYLES, default="full",
                    help="O-T-A chains of the seed's shape, or the same cues in a few words")
    sy.set_defaults(func=cmd_synth)

    bl = sub.add_parser("baseline", help="non-learned reference predictors"
                        ).add_subparsers(dest="baseline_command", required=True)
    bg = bl.add_parser("geometric", help="OpenCV tracks + homography/parallax -> predictions")
    bg.add_argument("--items", required=True, help="item file (ours or the seed's)")
    bg.add_argument("--video-root", required=True, help="where the items' videos resolve")
    bg.add_argument("--out", required=True, help="predictions .jsonl (eval score reads it)")
    bg.add_argument("--workers", type=int, default=1, help="clip-reading processes")
    bg.set_defaults(func=cmd_baseline)

    sf = sub.add_parser("sft", help="SFT with LLaMA-Factory from LLaMA-Factory/recipes")
    sf.add_argument("--recipe", default="qwen2_5_vl_7b_full_sft",
                    help="a recipe name in LLaMA-Factory/recipes, or a YAML path")
    sf.add_argument("--model", help="base model folder (default: the recipe's)")
    sf.add_argument("--dataset", help="comma-separated dataset_info.json names")
    sf.add_argument("--dataset-dir", help="folder of dataset_info.json (default: the recipe's)")
    sf.add_argument("--media-dir", help="where the datasets' video paths resolve")
    sf.add_argument("--out", help="output folder (default: the recipe's output_dir)")
    sf.add_argument("--no-check", action="store_true", help="skip the data check")
    sf.add_argument("--dry-run", action="store_true",
                    help="check the data, print the config and the command, write nothing")
    sf.add_argument("--export-lora-to", help="after LoRA training, merge the adapter into the "
                                             "base model here")
    sf.add_argument("overrides", nargs="*", help="LLaMA-Factory key=value overrides, last wins")
    sf.set_defaults(func=cmd_sft)

    rl = sub.add_parser("rl", help="GRPO: verl on clusters (default) or TRL on one GPU / the CPU")
    rl.add_argument("--backend", choices=("verl", "trl"), default="verl",
                    help="verl (GPU clusters) or TRL (one GPU or the CPU)")
    rl.add_argument("--model", required=True, help="the SFT model folder")
    rl.add_argument("--train-file", required=True, help="parquet, items .jsonl or OneThinker .json")
    rl.add_argument("--val-file",
                    help="verl: a held-out file (default: a sample of the training rows)")
    rl.add_argument("--video-root", help="where the records' videos resolve")
    rl.add_argument("--out", help="output folder (default: outputs/rl/<recipe> with verl, "
                                  "outputs/rl with trl)")
    rl.add_argument("--protocol", choices=tuple(PROTOCOLS), default=DEFAULT_PROTOCOL,
                    help="verl: the RL protocol (camreasoner.protocols): its recipe, input form "
                         "and reward")
    rl.add_argument("--recipe", help="verl: EasyR1/<recipe>.yaml (default: the protocol's)")
    rl.add_argument("--workers", type=int, default=8,
                    help="verl: frame-decoding processes for the conversion")
    rl.add_argument("--n-gpus", type=int, default=8, help="verl: GPUs a node")
    rl.add_argument("--n-nodes", type=int, default=1, help="verl: nodes (start Ray first)")
    rl.add_argument("--tensor-parallel-size", type=int, default=1,
                    help="verl: vLLM's tensor parallel size in the rollouts")
    rl.add_argument("--vision", choices=tuple(VISION_PRESETS),
                    help="verl: vision preset written into the parquet (default: the protocol's)")
    rl.add_argument("--dry-run", action="store_true", help="prepare data, print the command")
    trl_opts = rl.add_argument_group("trl backend")
    trl_opts.add_argument("--max-steps", type=int, default=100, help="GRPO steps")
    trl_opts.add_argument("--lr", type=float, default=2e-6, help="learning rate")
    trl_opts.add_argument("--num-generations", type=int, default=8, help="rollouts a prompt")
    trl_opts.add_argument("--batch-size", type=int, default=8, help="completions a step")
    trl_opts.add_argument("--max-completion-length", type=int, default=1024,
                          help="tokens a completion")
    trl_opts.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    trl_opts.add_argument("--fps", type=float, default=2.0, help="frames sampled a second")
    trl_opts.add_argument("--max-frames", type=int, default=8, help="frames a clip")
    trl_opts.add_argument("--max-pixels", type=int, default=144 * 784, help="pixels a frame")
    trl_opts.add_argument("--vision-mode", choices=("video", "frames"), default="video",
                          help="each clip as one video (SFT's input) or as its frames, one image "
                               "each (evaluate the model the same way)")
    trl_opts.add_argument("--freeze-vision-tower", action="store_true",
                          help="the language model alone learns (as SFT recipes that freeze it)")
    trl_opts.add_argument("--cpu", action="store_true", help="train on the CPU")
    rl.add_argument("overrides", nargs="*", help="verl Hydra overrides (key=value), last wins")
    rl.set_defaults(func=cmd_rl)

    from camreasoner.demo import DEFAULT_PRESET, PRESET_NAMES, STAGES, preset_summary

    m = sub.add_parser(
        "demo", help="the whole pipeline on synthetic clips and a tiny model shipped or built here",
        description="Synthetic clips -> a tiny Qwen2.5-VL -> SFT -> GRPO -> evaluation -> a "
                    "report, stage by stage under --out (a killed run resumes there). The "
                    "settings: a preset (camreasoner/demo/presets/*.yaml), then --set.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    m.add_argument("--out", default="outputs/demo",
                   help="output folder; one made with other settings is refused")
    which = m.add_mutually_exclusive_group()
    # argparse %-formats help text: a literal % in a preset's description must be doubled
    which.add_argument("--preset", choices=PRESET_NAMES, default=DEFAULT_PRESET,
                       help="; ".join(f"{n}: {preset_summary(n).rstrip('.')}"
                                      for n in PRESET_NAMES).replace("%", "%%"))
    which.add_argument("--preset-file", metavar="PATH",
                       help="a YAML preset of one's own instead (the sections and keys of the "
                            "shipped ones; a key left out takes its default)")
    m.add_argument("--until", choices=STAGES[:-1],
                   help="stop after this stage (later stages are left as they are)")
    m.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="change one setting of the preset (repeatable; the value is read as "
                        "YAML, a list also comma-separated), e.g. --set data.train_clips=8000 "
                        "--set rl.backend=verl --set model.hidden_size=128 "
                        "--set sft.overrides=learning_rate=5e-4,warmup_steps=50")
    m.set_defaults(func=cmd_demo)

    dev = sub.add_parser("dev", help="developer tools").add_subparsers(dest="dev_command",
                                                                       required=True)
    t = dev.add_parser("tiny-model", help="build a tiny random Qwen2.5-VL for tests")
    t.add_argument("--out", required=True, help="the model folder to write")
    t.add_argument("--seed", type=int, default=0, help="random seed")
    t.set_defaults(func=cmd_tiny_model)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command. A user error (bad input, a missing file, a setting that cannot be
    honoured) is printed as one line naming the input, status 2; any other failure is an
    internal error, status 1; ``--debug`` shows the traceback of either."""
    from camreasoner.errors import UserError

    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return args.func(args)
    except UserError as e:
        if args.debug:
            raise
        print(f"camreasoner: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a file or folder the user named that cannot be read or written
        if args.debug or e.filename is None:
            raise
        print(f"camreasoner: error: {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        if args.debug:
            raise
        print(f"camreasoner: internal error: {type(e).__name__}: {e} (run again with --debug "
              "for the traceback)", file=sys.stderr)
        return 1
