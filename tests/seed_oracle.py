"""Text copied from the seed's code (CamReasoner, commit 8b71188) as the oracle of tests: its
question template (identical in EasyR1/verl/utils/dataset.py and Inference/infer/eval_bench.py)
and its evaluation's multiple-choice tail (``TYPE_TEMPLATE["multiple choice"]``)."""

SEED_QUESTION_TEMPLATE = (
    "{Question}\n\n"
    "Please carefully analyze the video by first focusing on the differences between various "
    "frames, especially those that reveal overall movement or changes. "
    "Your <observation> should emphasize these frame-to-frame differences and describe the "
    "overall movement observed in the video. "
    "Then, in <think>, reason about the camera motion based on your observations, explaining how "
    "the visual evidence leads to your conclusion about the type of camera movement. "
    "Finally, provide only the single option letter (e.g., A, B, C, D, E, F etc.) within the "
    "<answer> </answer> tags. "
    "Follow the format specified in the instructions."
)
SEED_TYPE_TEMPLATE_MC = (
    "Please provide only the single option letter (e.g., A, B, C, D, etc.) "
    "within the <answer>...</answer> tags.\n"
    "Example:\n<answer>A</answer>"
)
