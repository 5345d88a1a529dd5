import pytest

from camreasoner import prompts
from camreasoner.data import convert
from tests.conftest import make_item
from tests.seed_oracle import SEED_QUESTION_TEMPLATE, SEED_TYPE_TEMPLATE_MC


def test_render_prompt_layout_is_the_seeds():
    text = prompts.render_prompt("Does the camera zoom in?", ["A. No", "B. Yes"])
    assert text == (
        "Does the camera zoom in?\nOptions:\nA. No\nB. Yes\n\n" + prompts.CAMERA_OTA_INSTRUCTION)
    assert text.endswith("within the <answer> </answer> tags. Follow the format specified in the "
                         "instructions.")


def test_parse_prompt_inverts_render():
    opts = prompts.make_options(["pan left", "pan right", "static"])
    assert opts == ["A. pan left", "B. pan right", "C. static"]
    text = prompts.with_video_placeholder(prompts.render_prompt("Which movement?", opts))
    assert prompts.parse_prompt(text) == ("Which movement?", opts, "camera_ota")
    other = "Which movement?\nOptions:\nA. x\nB. y\n\nSome other instruction."
    assert prompts.parse_prompt(other) == ("Which movement?", ["A. x", "B. y"],
                                           "Some other instruction.")


def test_unknown_instruction_is_an_error():
    with pytest.raises(KeyError, match="unknown instruction"):
        prompts.render_prompt("q", [], instruction="nope")


def test_sft_rl_and_eval_prompts_are_byte_identical(clip_root):
    item = make_item(extra={"response": "<observation>o</observation><think>t</think>"
                                        "<answer>B</answer>"})
    sft_user = convert.to_sharegpt([item])[0]["messages"][0]["content"]
    rl_user = convert.to_verl_rows([item], clip_root)[0]["prompt"][0]["content"]
    eval_text = prompts.chat_messages(prompts.render_item_prompt(item))[0]["content"][1]["text"]
    assert sft_user == rl_user == prompts.VIDEO_PLACEHOLDER + eval_text
    assert sft_user.encode() == (prompts.VIDEO_PLACEHOLDER + eval_text).encode()


def test_eval_chat_renders_like_the_placeholder_form(tiny_model):
    """LLaMA-Factory and verl swap <video> for Qwen's vision tokens; the eval chat must give the
    same text through the chat template."""
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(tiny_model)
    prompt = prompts.render_prompt("Does the camera tilt upward?", prompts.YES_NO_OPTIONS)
    via_parts = proc.apply_chat_template(prompts.chat_messages(prompt), tokenize=False,
                                         add_generation_prompt=True)
    via_placeholder = proc.apply_chat_template(
        [{"role": "user", "content": prompts.with_video_placeholder(prompt)}], tokenize=False,
        add_generation_prompt=True,
    ).replace(prompts.VIDEO_PLACEHOLDER, "<|vision_start|><|video_pad|><|vision_end|>")
    assert via_parts == via_placeholder


def test_seed_eval_prompt_is_the_seeds_byte_for_byte():
    item = make_item(question="Does the camera move downward (not tilting down) with respect to "
                              "the initial frame?")
    # build_prompt_text: problem + "\nOptions:\n" + options, the template, then the tail
    question = f"{item.question}\nOptions:\n" + "\n".join(item.options)
    seed = SEED_QUESTION_TEMPLATE.format(Question=question) + SEED_TYPE_TEMPLATE_MC
    assert prompts.render_eval_prompt(item, "seed").encode() == seed.encode()
    # the RL prompt (EasyR1's dataset: no format_prompt) is the template alone: our training one
    assert prompts.render_item_prompt(item).encode() == \
        SEED_QUESTION_TEMPLATE.format(Question=question).encode()
    assert prompts.render_eval_prompt(item, "camreasoner") == prompts.render_item_prompt(item)


def test_official_prompt_is_the_question_and_the_yes_no_request():
    item = make_item(question="Does the camera pan to the left?")
    assert prompts.render_eval_prompt(item, "official") == (
        "Does the camera pan to the left? Please only answer Yes or No.")
    with pytest.raises(KeyError, match="unknown evaluation prompt 'x'"):
        prompts.render_eval_prompt(item, "x")
