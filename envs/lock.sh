#!/usr/bin/env bash
# Regenerate envs/requirements.lock (the exact versions CI installs) and the conda
# environment files derived from it. Run from the repository root:  bash envs/lock.sh
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3.11 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q --upgrade pip
"$tmp/venv/bin/pip" install -q -e '.[test,slurm,docs]'
"$tmp/venv/bin/pip" freeze --all --exclude-editable | grep -v -E "^(ggnbench|pip)==" > envs/requirements.lock
"$tmp/venv/bin/python" envs/make_conda_envs.py
# The environment's size on disk, which `make setup` announces before it installs.
du -sh "$tmp/venv" | cut -f1 > envs/venv-size.txt
echo "wrote envs/requirements.lock, envs/*.yaml and envs/venv-size.txt"
