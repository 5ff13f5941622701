import { describe, expect, it } from 'vitest';
import { backupsOfEarlierAttempts } from '../../src/queue/job-result.js';

describe('backupsOfEarlierAttempts', () => {
  it('is empty for a job that has not run, or whose attempts kept no backup', () => {
    expect(backupsOfEarlierAttempts(0)).toEqual([]);
    expect(backupsOfEarlierAttempts(null)).toEqual([]);
    expect(backupsOfEarlierAttempts({ step: 'lock', percent: 0 })).toEqual([]);
    expect(backupsOfEarlierAttempts({ step: 'lock', percent: 0, result: { backupPath: null } })).toEqual([]);
  });

  it("adds the last attempt's backup, from its result, to those it carried, oldest first, once each", () => {
    expect(
      backupsOfEarlierAttempts({
        step: 'commit',
        percent: 83,
        backupPath: '/p/b2.db',
        earlierBackups: ['/p/b1.db'],
        result: { backupPath: '/p/b2.db' },
      }),
    ).toEqual(['/p/b1.db', '/p/b2.db']);
  });

  it('takes the backup an attempt reported writing when it left no result (its thread died)', () => {
    expect(backupsOfEarlierAttempts({ step: 'migrate', percent: 50, backupPath: '/p/b1.db' })).toEqual([
      '/p/b1.db',
    ]);
  });

  it("takes the result's word for the attempt's backup when there is one", () => {
    expect(
      backupsOfEarlierAttempts({
        step: 'backup',
        percent: 33,
        backupPath: '/p/b1.db',
        result: { backupPath: null },
      }),
    ).toEqual([]);
  });
});
