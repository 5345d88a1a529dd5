"""Imported by verl itself (``verl.plugins`` entry point, or ``VERL_USE_EXTERNAL_MODULES``) in
every verl process; importing it registers our advantage estimator. This module is the one place
where import does work, because that is the plugin mechanism's contract."""

from camreasoner.rl.ema_grpo import register

register()
