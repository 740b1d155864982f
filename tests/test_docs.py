from pathlib import Path

from pydantic import BaseModel

from kefu.config import Settings

ROOT = Path(__file__).parent.parent


def _keys(model: BaseModel, prefix: str = "") -> list[str]:
    keys = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        keys += _keys(value, f"{prefix}{name}.") if isinstance(value, BaseModel) else [
            prefix + name]
    return keys


def test_every_setting_is_documented():
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert [key for key in _keys(Settings()) if f"| `{key}` |" not in text] == []


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split("#")[0].strip() for line in block] == [
        "bash scripts/start-demo.sh", "bash scripts/test.sh"]
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
