import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

/** Debian's Chromium, installed by scripts/ensure-chromium.sh (nothing downloads a browser build). */
export const CHROMIUM = process.env.TASKSTREAM_CHROMIUM ?? "/usr/bin/chromium";

/** The flags every run uses: headless, no sandbox (root in CI), and nothing that calls out. */
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Headless Chromium with a fresh profile of its own, at a viewport. Fails with the fix when the
 * browser is missing rather than trying to download one.
 */
export async function launchBrowser(
  viewport: { width: number; height: number },
  mobile = false,
): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `no Chromium at ${CHROMIUM}: run \`bash scripts/ensure-chromium.sh\` (npm test does), or set TASKSTREAM_CHROMIUM`,
    );
  const profile = mkdtempSync(join(tmpdir(), "taskstream-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport,
    isMobile: mobile,
    hasTouch: mobile,
    deviceScaleFactor: 1,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
