import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectionOptionsFromUrl } from '../../src/queue/connection.js';
import {
  countRolloutFailure,
  forgetRolloutFailures,
  isRolloutGateClosed,
  openRolloutGate,
  removeRolloutGate,
  rolloutGateKey,
  wasRefusedByGate,
} from '../../src/queue/rollout-gate.js';
import { redisForFile } from '../helpers/redis.js';

const redis = redisForFile();
let queue: Queue;

beforeEach(() => {
  queue = new Queue(`test-${randomUUID()}`, { connection: connectionOptionsFromUrl(redis.url) });
});
afterEach(async () => {
  await queue.obliterate({ force: true });
  await queue.close();
});

describe('rollout gate', () => {
  it('closes once failures pass the limit, keeps its count when moved, and opens again when removed', async () => {
    const client = await queue.client;
    const key = rolloutGateKey(queue, 'rollout-1');
    await openRolloutGate(client, key, 1);
    await countRolloutFailure(client, key, 'rollout-1_apply_0');
    expect(await isRolloutGateClosed(client, key)).toBe(false);
    await countRolloutFailure(client, key, 'rollout-1_apply_1');
    expect(await isRolloutGateClosed(client, key)).toBe(true);
    await openRolloutGate(client, key, 5); // a controller taking over: the count made stays
    expect(await isRolloutGateClosed(client, key)).toBe(false);
    await openRolloutGate(client, key, 1);
    expect(await isRolloutGateClosed(client, key)).toBe(true);
    await removeRolloutGate(client, key);
    expect(await isRolloutGateClosed(client, key)).toBe(false);
  });

  it('counts nothing for a rollout without a gate (no --max-failures)', async () => {
    const client = await queue.client;
    const key = rolloutGateKey(queue, 'rollout-2');
    await countRolloutFailure(client, key, 'rollout-2_apply_0');
    expect(await client.runCommand('exists', [key])).toBe(0);
    expect(wasRefusedByGate('ROLLOUT_HALTED: Rollout x halted')).toBe(true);
    expect(wasRefusedByGate('MIGRATION_FAILED: ROLLOUT_HALTED: no')).toBe(false);
  });

  it('counts each job once, however often its final failure is counted, until a retry takes it back', async () => {
    const client = await queue.client;
    const key = rolloutGateKey(queue, 'rollout-3');
    await openRolloutGate(client, key, 1);
    // The same job's final failure counted again: its worker died before BullMQ recorded it, and it ran again.
    await countRolloutFailure(client, key, 'rollout-3_apply_0');
    await countRolloutFailure(client, key, 'rollout-3_apply_0');
    expect(await isRolloutGateClosed(client, key)).toBe(false);
    await countRolloutFailure(client, key, 'rollout-3_apply_1');
    expect(await isRolloutGateClosed(client, key)).toBe(true);

    // retry --failed takes back the failures it retried (and only those), and each counts again if it fails again.
    await forgetRolloutFailures(client, key, ['rollout-3_apply_1', 'rollout-3_apply_9']);
    expect(await isRolloutGateClosed(client, key)).toBe(false);
    await forgetRolloutFailures(client, key, ['rollout-3_apply_1']);
    await countRolloutFailure(client, key, 'rollout-3_apply_0');
    expect(await isRolloutGateClosed(client, key)).toBe(false);
    await countRolloutFailure(client, key, 'rollout-3_apply_1');
    expect(await isRolloutGateClosed(client, key)).toBe(true);
  });
});
