from pathlib import Path

import pytest

from kefu.config import check_serving, load_settings
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


def test_a_list_setting_comes_from_the_environment_as_json():
    weights = load_settings(environ={"KEFU_LADDER__CERTAINTY_WEIGHTS": "[-5, 3, 1, 3, 1.5]"})
    assert weights.ladder.certainty_weights == (-5.0, 3.0, 1.0, 3.0, 1.5)
    with pytest.raises(ConfigError, match="ladder.certainty_weights: Input should be a valid"):
        load_settings(environ={"KEFU_LADDER__CERTAINTY_WEIGHTS": "[-5, 3"})
    with pytest.raises(ConfigError, match="ladder.certainty_weights: Tuple should have at most"):
        load_settings(environ={"KEFU_LADDER__CERTAINTY_WEIGHTS": "[1, 2, 3, 4, 5, 6]"})


def test_unknown_choice_lists_the_valid_ones():
    with pytest.raises(ConfigError,
                       match="llm.backend: Input should be 'llama-cpp', 'openai' or 'none'"):
        load_settings(environ={"KEFU_LLM__BACKEND": "gpt"})


def test_unknown_key_is_refused():
    with pytest.raises(ConfigError, match="ladder.faq_treshold: Extra inputs"):
        load_settings(environ={"KEFU_LADDER__FAQ_TRESHOLD": "0.5"})


def test_a_replaced_key_names_its_successor():
    with pytest.raises(ConfigError, match="ladder.choose_threshold was replaced by "
                                          "ladder.choose_certainty"):
        load_settings(environ={"KEFU_LADDER__CHOOSE_THRESHOLD": "0.6"})


def test_missing_config_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", {})


@pytest.mark.parametrize("host,token,refused", [
    ("127.0.0.1", "admin", False),  # only this machine can reach it
    ("0.0.0.0", "changethis", True),
    ("0.0.0.0", "short", True),
    ("0.0.0.0", "", False),  # the admin API is off
    ("0.0.0.0", "Zq8-hL2p0vR7xYk3mN5w", False),
])
def test_placeholder_secrets_are_refused_beyond_this_machine(host, token, refused):
    settings = load_settings(environ={"KEFU_SERVER__HOST": host,
                                      "KEFU_SERVER__ADMIN_TOKEN": token})
    if refused:
        with pytest.raises(ConfigError, match="looks like a placeholder"):
            check_serving(settings)
    else:
        check_serving(settings)
    openai = load_settings(environ={"KEFU_SERVER__HOST": "0.0.0.0", "KEFU_LLM__BACKEND": "openai",
                                    "KEFU_LLM__API_KEY": "sk-xxx"})
    with pytest.raises(ConfigError, match="llm.api_key"):
        check_serving(openai)
