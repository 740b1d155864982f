from pathlib import Path

import pytest

from kefu.config import load_settings
from kefu.errors import ConfigError


def test_defaults_then_toml_then_environment(tmp_path: Path):
    toml = tmp_path / "kefu.toml"
    toml.write_text('[llm]\nmodel = "small"\nn_threads = 1\n[ladder]\nfaq_threshold = 0.9\n')
    settings = load_settings(toml, {"KEFU_LLM__N_THREADS": "4", "KEFU_HOME": str(tmp_path)})
    assert (settings.llm.model, settings.llm.n_threads) == ("small", 4)
    assert settings.ladder.faq_threshold == 0.9
    assert settings.ladder.rag_threshold == 0.34
    assert settings.home == tmp_path
    assert settings.models_dir == tmp_path / "models"


def test_unknown_choice_lists_the_valid_ones():
    with pytest.raises(ConfigError,
                       match="llm.backend: Input should be 'llama-cpp', 'openai' or 'none'"):
        load_settings(environ={"KEFU_LLM__BACKEND": "gpt"})


def test_unknown_key_is_refused():
    with pytest.raises(ConfigError, match="ladder.faq_treshold: Extra inputs"):
        load_settings(environ={"KEFU_LADDER__FAQ_TRESHOLD": "0.5"})


def test_missing_config_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", {})
