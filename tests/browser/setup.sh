#!/usr/bin/env bash
# tests/browser/setup.sh DIR — the browser test's fixture (ctest browser_npm):
# puts package.json, package-lock.json and browse.mjs into DIR and installs
# puppeteer-core there from the lock (`npm ci`; again only when the lock
# changed). Nothing is installed in the source tree. Without Debian's
# chromium there is nothing to drive: the test then skips, and so does this.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: setup.sh DIR}
if [ ! -x /usr/bin/chromium ]; then
  echo "browser_npm: /usr/bin/chromium missing: nothing to install for (test_web_browser skips)"
  exit 0
fi
command -v npm >/dev/null || { echo "browser_npm: npm is missing (scripts/setup installs it)" >&2; exit 1; }
mkdir -p "$dir"
cp "$here/package.json" "$here/browse.mjs" "$dir/"
if [ -f "$dir/node_modules/puppeteer-core/package.json" ] && cmp -s "$here/package-lock.json" "$dir/package-lock.json"; then
  echo "browser_npm: puppeteer-core installed from this lock already"
  exit 0
fi
cp "$here/package-lock.json" "$dir/"
cd "$dir"
# --ignore-scripts: no install script may fetch anything (puppeteer-core
# downloads no browser; the test uses /usr/bin/chromium)
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
echo "browser_npm: puppeteer-core $(node -p "require('./node_modules/puppeteer-core/package.json').version") installed in $dir"
