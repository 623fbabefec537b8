#!/usr/bin/env bash
# Regenerates docs/screenshots/*.png from the real console: the browser test
# `console_screenshots` (tests/it/console_browser_wizard.rs, ignored by default) walks the
# setup wizard against okta-sim and zenqms-sim in headless Chromium and saves each page.
# Needs Debian's chromium and chromium-driver (`apt-get install -y chromium chromium-driver`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --test it console_screenshots -- --ignored --exact console_browser_wizard::console_screenshots
ls -l docs/screenshots/
