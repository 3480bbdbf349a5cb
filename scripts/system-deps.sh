#!/usr/bin/env bash
# Installs the Debian packages the tests and the dev server need, when root; otherwise names them.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql-15)
ls /usr/lib/postgresql/*/lib/pg_cron.so >/dev/null 2>&1 || need+=(postgresql-15-cron)
# The tests put the functions behind a transaction-mode pooler, as Supabase does (devtools/localstores.py).
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
for extra in "$@"; do
  case "$extra" in
    chromium)
      command -v chromium >/dev/null 2>&1 || need+=(chromium)
      # Screenshots need a font with Cyrillic glyphs (the form is in Russian).
      ls /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf >/dev/null 2>&1 || need+=(fonts-dejavu-core) ;;
    *) command -v "$extra" >/dev/null 2>&1 || need+=("$extra") ;;
  esac
done

[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts a cluster/server of its own on install; ours run on their own ports, so that is harmless.
else
  echo "missing system packages: ${need[*]}" >&2
  echo "install them (e.g. sudo apt-get install ${need[*]}) and run again" >&2
  exit 1
fi
