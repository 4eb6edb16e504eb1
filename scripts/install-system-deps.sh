#!/usr/bin/env bash
# Install the Debian packages readingroom needs, only those missing (fast when all are there).
#   tesseract-ocr, -eng, -spa: OCR of scanned pages (English default, Spanish available)
#   poppler-utils: pdftotext, the baseline of the ingest benchmark
#   python3-venv: the virtualenv (Debian splits it out of python3)
#   chromium: the browser the end-to-end tests drive through Playwright
#   docker-compose: checks docker-compose.yml in the tests when the `docker compose` plugin
#     (in no Debian release) is missing; Compose 1.29 reads the same services and variables
set -euo pipefail

wanted=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa poppler-utils chromium)
if ! docker compose version >/dev/null 2>&1; then
  wanted+=(docker-compose)
fi
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  wanted+=(python3-venv)
fi

missing=()
for pkg in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
