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
  setup_dashboard_assets
}

# The dashboard's charting library (Chart.js, pinned, checksum-verified) via npm pack.
setup_dashboard_assets() {
  if [ -f service/dashboard/static/vendor/chart.umd.min.js ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q npm >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q npm >/dev/null; } || true
  fi
  .venv/bin/python -m service.dashboard.vendor \
    || echo "warning: dashboard charts unavailable until 'python -m service.dashboard.vendor' succeeds" >&2
}

# Headless Chromium for the dashboard's browser tests (skipped, with the reason, without it).
setup_browser() {
  if command -v chromium >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
      || echo "warning: could not install chromium; the browser tests will be skipped" >&2
  else
    echo "note: chromium is not installed and this is not root: the browser tests will be skipped" >&2
  fi
}
