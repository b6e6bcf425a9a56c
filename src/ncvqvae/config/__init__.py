"""Every setting of a run in one frozen :class:`RunConfig`; presets; YAML and overlays.

``schema`` declares the settings with their types and limits, ``presets`` the named
starting points, ``overlay`` how files and ``--set`` assignments are laid over them.
"""

from ncvqvae.config.overlay import (
    from_dict,
    from_saved,
    load_config,
    load_saved_config,
    overlay,
    parse_assignments,
    read_yaml_mapping,
    save_config,
)
from ncvqvae.config.presets import preset
from ncvqvae.config.schema import (
    ACCELERATORS,
    AUGMENTATIONS,
    PRESETS,
    SSL_METHODS,
    TOKENIZERS,
    DataConfig,
    EvaluationConfig,
    OptimConfig,
    PriorConfig,
    RunConfig,
    SSLConfig,
    TokenizerConfig,
    TrainerConfig,
    validate,
)

__all__ = [
    "ACCELERATORS",
    "AUGMENTATIONS",
    "PRESETS",
    "SSL_METHODS",
    "TOKENIZERS",
    "DataConfig",
    "EvaluationConfig",
    "OptimConfig",
    "PriorConfig",
    "RunConfig",
    "SSLConfig",
    "TokenizerConfig",
    "TrainerConfig",
    "from_dict",
    "from_saved",
    "load_config",
    "load_saved_config",
    "overlay",
    "parse_assignments",
    "preset",
    "read_yaml_mapping",
    "save_config",
    "validate",
]
