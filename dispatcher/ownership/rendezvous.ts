import { createHash } from "node:crypto";

/**
 * Rendezvous (highest-random-weight) hashing: every member scores every partition, and a partition
 * belongs to its highest-scoring member. Each dispatcher computes the same answer from the same
 * member list, with no coordination; a member joining takes about 1/N of the partitions, one from
 * each of the others, and a member leaving gives away only its own.
 */
export function score(member: string, partition: number): bigint {
  return createHash("sha256").update(`${member}\u0000${partition}`).digest().readBigUInt64BE(0);
}

/** The members in the order they should own the partition: the first is its owner, then the next in line. */
export function preference(partition: number, members: readonly string[]): string[] {
  return [...members]
    .map((member) => ({ member, score: score(member, partition) }))
    .sort((a, b) => (a.score === b.score ? a.member.localeCompare(b.member) : a.score > b.score ? -1 : 1))
    .map(({ member }) => member);
}

/** Which partitions each member should own. */
export function layout(partitions: number, members: readonly string[]): Map<string, number[]> {
  const owned = new Map<string, number[]>(members.map((member) => [member, []]));
  if (members.length === 0) return owned;
  for (let p = 0; p < partitions; p++) owned.get(preference(p, members)[0]!)!.push(p);
  return owned;
}
