import { randomFillSync } from "node:crypto";
import { v7 as uuidv7 } from "uuid";

const POOL_IDS = 256;
const pool = new Uint8Array(16 * POOL_IDS);
let next = POOL_IDS;

/**
 * A UUIDv7 (time-ordered) from a pool of random bytes refilled 4 KiB at a time: the uuid package
 * asks the Web Crypto API for 16 bytes per id, which costs more than the rest of a submission's
 * bookkeeping together. Ids made in the same millisecond are not ordered among themselves.
 */
export function newId(now = Date.now()): string {
  if (next === POOL_IDS) {
    randomFillSync(pool);
    next = 0;
  }
  const random = pool.subarray(16 * next, 16 * ++next);
  return uuidv7({ random, msecs: now });
}
