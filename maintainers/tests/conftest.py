"""The project's shared fixtures (offline hub, the tiny model, clips) for the maintainers' tests."""

from tests.conftest import clip_root, offline_env, tiny_model  # noqa: F401 (fixtures)
