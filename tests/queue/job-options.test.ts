import { describe, expect, it } from 'vitest';
import { changeFollowedBy, orderedDeduplicationIdOf } from '../../src/queue/job-options.js';

describe('orderedDeduplicationIdOf and changeFollowedBy', () => {
  it('carries the change a job was queued after, and gives it back', () => {
    const id = orderedDeduplicationIdOf('migrate-down', { dbPath: '/p/.gao-dev/documents.db' }, '17');
    expect(id).toBe('migrate-down|latest|run|/p/.gao-dev/documents.db|after:17');
    expect(changeFollowedBy(id)).toBe('17');
  });

  it('gives nothing back for a job queued after no change', () => {
    const id = orderedDeduplicationIdOf('verify', { dbPath: '/p/documents.db' }, null);
    expect(id).toBe('verify|latest|run|/p/documents.db|after:-');
    expect(changeFollowedBy(id)).toBeUndefined();
  });

  it('reads the last mark only, whatever the path contains', () => {
    const id = orderedDeduplicationIdOf(
      'migrate-up',
      { dbPath: '/odd|after:99/documents.db', dryRun: true },
      null,
    );
    expect(changeFollowedBy(id)).toBeUndefined();
    expect(changeFollowedBy(`${id.slice(0, -1)}5`)).toBe('5');
  });

  it('gives nothing back for jobs without one of our deduplication ids (added with BullMQ directly)', () => {
    expect(changeFollowedBy(undefined)).toBeUndefined();
    expect(changeFollowedBy('someone-else')).toBeUndefined();
    expect(changeFollowedBy('x|after:')).toBeUndefined();
  });
});
