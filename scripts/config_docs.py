"""Regenerate docs/configuration.md from the Settings field descriptions."""

from pathlib import Path

from pydantic import BaseModel

from kefu.config import Settings

HEADER = """# Configuration

Settings are read once, in this order, later ones winning: the defaults below, a TOML file
(`--config PATH` or `KEFU_CONFIG`), then environment variables `KEFU_<SECTION>__<KEY>`
(for example `KEFU_LLM__MODEL=small`, `KEFU_HOME=/srv/kefu`; a list as JSON:
`KEFU_LADDER__CERTAINTY_WEIGHTS='[-5, 3, 1, 3, 1]'`). Unknown keys and invalid values are
refused with a message naming the key.

```toml
# kefu.toml
shop_name = "Lumi Home"
[llm]
model = "small"
n_threads = 2
[ladder]
faq_threshold = 0.6
```

| key | default | meaning |
|---|---|---|
"""


def rows(model: BaseModel, prefix: str = ""):  # type: ignore[no-untyped-def]
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from rows(value, f"{prefix}{name}.")
        else:
            default = "`~/.kefu`" if name == "home" else f"`{value!r}`".replace("|", "\\|")
            yield f"| `{prefix}{name}` | {default} | {field.description} |"


if __name__ == "__main__":
    target = Path(__file__).parents[1] / "docs" / "configuration.md"
    target.write_text(HEADER + "\n".join(rows(Settings())) + "\n", encoding="utf-8")
    print(f"wrote {target}")
