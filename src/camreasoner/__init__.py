"""camreasoner: train and evaluate video-language models that reason about camera motion.

Importing the package does no work and pulls in no heavy framework (torch, verl, llamafactory,
vllm); every stage imports those lazily inside the functions that need them.
"""

__version__ = "0.1.0"
