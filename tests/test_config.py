from core.config import SETTINGS, Settings


def test_settings_defaults_without_environment(settings):
    assert settings.base_currency == "SAR"
    assert settings.max_upload_mb == 200
    assert settings.max_upload_bytes == 200 * 1024 * 1024
    assert settings.llm_max_retries == 3


def test_settings_read_prefixed_environment_with_types():
    settings = Settings.from_env({"DEALCAST_MAX_UPLOAD_MB": "5", "DEALCAST_LLM_TIMEOUT": "2.5"})
    assert settings.max_upload_mb == 5
    assert settings.llm_timeout == 2.5


def test_settings_api_key_falls_back_to_provider_variables():
    assert Settings.from_env({"OPENROUTER_API_KEY": "k1"}).llm_api_key == "k1"
    assert Settings.from_env({"OPENAI_API_KEY": "k2"}).llm_api_key == "k2"
    both = {"DEALCAST_LLM_API_KEY": "mine", "OPENAI_API_KEY": "other"}
    assert Settings.from_env(both).llm_api_key == "mine"


def test_settings_repr_never_shows_the_api_key():
    settings = Settings.from_env({"DEALCAST_LLM_API_KEY": "sk-very-secret"})
    assert "sk-very-secret" not in repr(settings)
    assert "sk-very-secret" not in str(settings)


def test_every_setting_is_documented_with_its_variable():
    names = {info.name for info in SETTINGS}
    assert "db" in names and "llm_api_key" in names
    for info in SETTINGS:
        assert info.env == "DEALCAST_" + info.name.upper()
        assert info.help.strip()


def test_bad_number_in_environment_names_the_variable():
    import pytest

    with pytest.raises(ValueError, match="DEALCAST_MAX_UPLOAD_MB='lots'"):
        Settings.from_env({"DEALCAST_MAX_UPLOAD_MB": "lots"})
