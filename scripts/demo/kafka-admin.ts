// Kafka chores of the events demo and the events benchmark, with @platformatic/kafka (the client
// cesync itself uses): topics created when missing or deleted, a consumer group's committed
// offsets read and moved, events published.
import { Admin, Producer, stringSerializers } from '@platformatic/kafka';

const CLIENT_ID = 'cesync-demo';

async function withAdmin<T>(brokers: string[], work: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({ clientId: CLIENT_ID, bootstrapBrokers: brokers });
  try {
    return await work(admin);
  } finally {
    await admin.close();
  }
}

/** Creates the topics that do not exist yet (single node: one replica); resolves to the ones it created. */
export function ensureTopics(brokers: string[], topics: readonly string[], partitions = 1): Promise<string[]> {
  return withAdmin(brokers, async (admin) => {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length > 0) await admin.createTopics({ topics: missing, partitions, replicas: 1 });
    return missing;
  });
}

/**
 * Deletes the topics that exist (their events and every group's offsets of them go with them).
 * Resolves once the broker no longer lists them, so that they can be created again at once.
 */
export function deleteTopics(brokers: string[], topics: readonly string[]): Promise<string[]> {
  return withAdmin(brokers, async (admin) => {
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((t) => existing.has(t));
    if (present.length === 0) return present;
    await admin.deleteTopics({ topics: present });
    for (const end = Date.now() + 30_000; ; ) {
      const left = new Set(await admin.listTopics());
      if (!present.some((t) => left.has(t))) return present;
      if (Date.now() > end) throw new Error(`topics ${present.join(', ')} still listed 30 s after their deletion`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });
}

/** Deletes a consumer group with its committed offsets; resolves to false when there was none. */
export function deleteGroup(brokers: string[], groupId: string): Promise<boolean> {
  return withAdmin(brokers, async (admin) => {
    const groups = await admin.listGroups();
    if (!groups.has(groupId)) return false;
    await admin.deleteGroups({ groups: [groupId] });
    return true;
  });
}

export interface GroupPosition {
  /** Members of the group now (consumers connected to it). */
  members: number;
  /** Per partition: the end of the log, and the group's committed offset (-1 when none). */
  partitions: { partition: number; end: bigint; committed: bigint }[];
}

/** Where a group stands on a topic: its members, and per partition the log's end and its committed offset. */
export function groupPosition(brokers: string[], groupId: string, topic: string): Promise<GroupPosition> {
  return withAdmin(brokers, async (admin) => {
    const metadata = await admin.metadata({ topics: [topic] });
    const count = metadata.topics.get(topic)?.partitionsCount ?? 0;
    const indexes = Array.from({ length: count }, (_, i) => i);
    const listed = await admin.listOffsets({ topics: [{ name: topic, partitions: indexes.map((partitionIndex) => ({ partitionIndex, timestamp: -1n })) }] });
    const ends = new Map(listed.flatMap((t) => t.partitions.map((p) => [p.partitionIndex, p.offset] as const)));
    const groups = await admin.listGroups();
    let members = 0;
    const committed = new Map<number, bigint>();
    if (groups.has(groupId)) {
      members = (await admin.describeGroups({ groups: [groupId] })).get(groupId)?.members.size ?? 0;
      const offsets = await admin.listConsumerGroupOffsets({ groups: [{ groupId, topics: [{ name: topic, partitionIndexes: indexes }] }] });
      for (const g of offsets) for (const t of g.topics) for (const p of t.partitions) committed.set(p.partitionIndex, p.committedOffset);
    }
    return { members, partitions: indexes.map((partition) => ({ partition, end: ends.get(partition) ?? 0n, committed: committed.get(partition) ?? -1n })) };
  });
}

/**
 * Commits, for the group, the end of each partition of the topic: its consumers then read only
 * events published after this. The group must have no members (Kafka refuses otherwise).
 */
export function moveGroupToEnd(brokers: string[], groupId: string, topic: string, position: GroupPosition): Promise<void> {
  return withAdmin(brokers, (admin) =>
    admin.alterConsumerGroupOffsets({ groupId, topics: [{ name: topic, partitionOffsets: position.partitions.map((p) => ({ partition: p.partition, offset: p.end })) }] }),
  );
}

/** Publishes the values (with their keys, when given), acknowledged by every in-sync replica. */
export async function publish(brokers: string[], topic: string, values: readonly string[], keys?: readonly string[]): Promise<void> {
  const producer = new Producer({ clientId: CLIENT_ID, bootstrapBrokers: brokers, serializers: stringSerializers });
  try {
    for (let i = 0; i < values.length; i += 500) {
      await producer.send({ acks: -1, messages: values.slice(i, i + 500).map((value, j) => ({ topic, value, ...(keys ? { key: keys[i + j]! } : {}) })) });
    }
  } finally {
    await producer.close();
  }
}
