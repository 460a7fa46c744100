# Sourced by scripts/*.sh: create .venv and install the project (idempotent, quick when done).
setup_env() {
  local extras="$1"
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  local stamp=".venv/.edgeperf-$extras-$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    .venv/bin/pip install -q --disable-pip-version-check "torch==2.13.0"
    if [ "$extras" = "dev" ]; then
      .venv/bin/pip install -q --disable-pip-version-check -e ".[dev]"
    else
      .venv/bin/pip install -q --disable-pip-version-check -e ".[litert]"
    fi
    touch "$stamp"
  fi
}
