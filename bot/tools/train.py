"""Train the Rasa model only when its inputs changed.

The model's name carries a fingerprint of everything that shapes it (config, domain,
training data, the custom components and the pinned Rasa runtime). If
``models/yinling-<fingerprint>.tar.gz`` exists it is reused; otherwise ``rasa train``
runs once. The path of the model is printed on the last line.

    .venv-rasa/bin/python -m bot.tools.train [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
# Everything that shapes the model: Rasa's configuration and data, the custom components the
# pipeline trains with, the shared normalization code, and the pinned runtime. Not the evaluation
# tools in bot/, and not what the rule components after the classifier read when the server loads
# the model (their code and tables): changing a danger phrase must not cost a retraining.
INPUTS = (
    "config.yml",
    "domain",
    "training_data",
    "bot/components/normalizer.py",
    "bot/components/e5_featurizer.py",
    "bot/components/use_featurizer.py",
    "bot/components/sentence_vectors.py",
    "bot/components/linear_intent.py",
    "textnorm",
    "requirements/rasa.lock",
)
RUNTIME_ONLY = frozenset(
    {
        "training_data/safety.yml",
        "textnorm/safety.py",
        "training_data/intent_rules.yml",
        "training_data/complaints.yml",
    }
)
KEEP_MODELS = 3


def fingerprint(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            if str(file.relative_to(root)) in RUNTIME_ONLY:
                continue
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def model_path(root: Path = ROOT) -> Path:
    return root / "models" / f"yinling-{fingerprint(root)}.tar.gz"


def train(force: bool = False) -> Path:
    target = model_path()
    if target.exists() and not force:
        print(f"train: model is up to date ({target.name})", file=sys.stderr)
        return target
    MODELS.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [
        sys.executable,
        "-m",
        "rasa",
        "train",
        "--config",
        "config.yml",
        "--domain",
        "domain",
        "--data",
        "training_data",
        "--out",
        str(MODELS),
        "--fixed-model-name",
        target.name.removesuffix(".tar.gz"),
    ]
    print(f"train: training {target.name} (inputs changed)", file=sys.stderr)
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    if not target.exists():
        raise SystemExit(f"train: rasa train finished but {target} is missing")
    old = sorted(MODELS.glob("yinling-*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)[KEEP_MODELS:]
    for path in old:
        path.unlink()
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="train even if the model is up to date")
    args = parser.parse_args()
    print(train(force=args.force))


if __name__ == "__main__":
    main()
