#!/usr/bin/env bash
# Vendor TradingView lightweight-charts into bcx_web/static/vendor/, so the chart page loads nothing from a CDN.
#
# Run once per version bump (`make vendor`) and commit the result; the page and the tests never need npm or the
# network. The tarball is checked against the registry's published integrity before anything is copied.
set -euo pipefail

VERSION=5.2.1
INTEGRITY=sha512-IVwoK1RLFiLPubaKIjNbtjWLnpPMqiABSrTay6whmNa8L1+19292VtHJ+BWyPUuLCwF0tcQlhEWd1CLB2a1nsQ==
FILES=(dist/lightweight-charts.standalone.production.js LICENSE)

dest="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
tarball="$(npm pack --silent "lightweight-charts@$VERSION")"
actual="sha512-$(node -e 'const fs = require("fs"), crypto = require("crypto");
process.stdout.write(crypto.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$tarball")"
if [ "$actual" != "$INTEGRITY" ]; then
    echo "vendor.sh: $tarball integrity $actual, expected $INTEGRITY" >&2
    exit 1
fi
tar -xzf "$tarball"

mkdir -p "$dest"
for file in "${FILES[@]}"; do
    cp "package/$file" "$dest/$(basename "$file")"
done
echo "lightweight-charts $VERSION -> $dest"
