import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

/** Debian's chromium, never a downloaded browser. `.ci/run` installs it; CI must not skip the browser tests. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const haveChromium = existsSync(chromiumPath);
if (!haveChromium && process.env.CI) throw new Error(`CI needs Chromium at ${chromiumPath} (apt-get install chromium)`);

/** axe-core's source, to evaluate in a scripted page. */
export const axeSource = () => readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Chromium with a fresh temporary profile (Playwright's own). The machine has no internet: keep
 * Chromium from calling home, or its start-up stalls.
 */
export const launchChromium = () =>
  chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
