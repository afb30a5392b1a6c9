/**
 * Which browser origins may call Taskstream (docs/http-security.md). A request without an `Origin`
 * header does not come from a page (curl, SDKs, servers) and is not judged here.
 */
export interface OriginPolicy {
  /** Origins allowed cross-site, exactly as browsers send them (`https://console.example.com`). */
  allowed: readonly string[];
  /** Development on loopback: pages served from localhost / 127.0.0.1 / [::1] on any port are trusted too. */
  allowLoopback: boolean;
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Whether a cross-site request from `origin` is allowed by the policy (CORS and WebSocket alike). */
export function originAllowed(origin: string, policy: OriginPolicy): boolean {
  if (policy.allowed.includes(origin)) return true;
  if (!policy.allowLoopback) return false;
  try {
    return LOOPBACK.has(new URL(origin).hostname);
  } catch {
    return false;
  }
}

/** Whether `origin` is the server's own (a page it served): the Host the request was sent to. */
export function sameOrigin(origin: string, host: string | undefined): boolean {
  if (!host) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** Parses `TASKSTREAM_CORS_ORIGINS`: comma-separated origins; each must be scheme://host[:port]. */
export function parseOrigins(value: string): string[] {
  const origins = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const origin of origins) {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new Error(`"${origin}" is not an origin (scheme://host[:port])`);
    }
    if (url.origin !== origin) throw new Error(`"${origin}" is not an origin: did you mean "${url.origin}"?`);
  }
  return origins;
}
