import { createHash } from "node:crypto";

/**
 * Rendezvous (highest-random-weight) hashing with bounded loads: every member scores every
 * partition; the (partition, member) pairs are taken from the highest score down, and a pair makes
 * the member the partition's owner unless the partition has one already or the member is full
 * (⌊P/N⌋ partitions in a first round, one more in a second). Each dispatcher computes the same answer from the same member list with no
 * coordination; every member owns ⌊P/N⌋ or ⌈P/N⌉ partitions (plain rendezvous hashing leaves a
 * member of three with none of eight partitions one time in 25); a member joining or leaving moves
 * the 1/N of the partitions it must and, to keep the loads even, up to about half as many again.
 */
export function score(member: string, partition: number): bigint {
  return createHash("sha256").update(`${member}\u0000${partition}`).digest().readBigUInt64BE(0);
}

/** Members by descending score for the partition (ties by name): plain rendezvous order. */
function ranked(partition: number, members: readonly string[]): string[] {
  return [...members]
    .map((member) => ({ member, score: score(member, partition) }))
    .sort((a, b) => (a.score === b.score ? a.member.localeCompare(b.member) : a.score > b.score ? -1 : 1))
    .map(({ member }) => member);
}

/**
 * Each partition's owner under bounded loads: a first round fills every member to ⌊P/N⌋, a second
 * gives the P mod N left over one each.
 */
function owners(partitions: number, members: readonly string[]): string[] {
  const pairs: { partition: number; member: string; score: bigint }[] = [];
  for (let partition = 0; partition < partitions; partition++)
    for (const member of members) pairs.push({ partition, member, score: score(member, partition) });
  pairs.sort((a, b) =>
    a.score === b.score
      ? a.member.localeCompare(b.member) || a.partition - b.partition
      : a.score > b.score
        ? -1
        : 1,
  );
  const owner: string[] = new Array<string>(partitions);
  const load = new Map<string, number>();
  const fill = (capacity: number) => {
    for (const { partition, member } of pairs) {
      if (owner[partition] !== undefined || (load.get(member) ?? 0) >= capacity) continue;
      owner[partition] = member;
      load.set(member, (load.get(member) ?? 0) + 1);
    }
  };
  fill(Math.floor(partitions / members.length));
  fill(Math.floor(partitions / members.length) + 1);
  return owner;
}

/**
 * For every partition, the members in the order they should own it: the first is its owner, then
 * the next in line (rendezvous order) should the owner not take it.
 */
export function preferences(partitions: number, members: readonly string[]): readonly string[][] {
  const key = `${partitions}\u0000${[...members].sort().join("\u0000")}`;
  if (last?.key === key) return last.lines;
  const owner = members.length === 0 ? [] : owners(partitions, members);
  const lines = Array.from({ length: partitions }, (_, partition) =>
    owner[partition] === undefined
      ? []
      : [owner[partition], ...ranked(partition, members).filter((m) => m !== owner[partition])],
  );
  last = { key, lines };
  return lines;
}

/** The last layout computed: every reconcile and readiness check asks for the same one. */
let last: { key: string; lines: readonly string[][] } | undefined;

/** Which partitions each member should own. */
export function layout(partitions: number, members: readonly string[]): Map<string, number[]> {
  const owned = new Map<string, number[]>(members.map((member) => [member, []]));
  preferences(partitions, members).forEach((line, partition) => {
    if (line[0] !== undefined) owned.get(line[0])!.push(partition);
  });
  return owned;
}
