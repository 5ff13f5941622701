import { describe, expect, it } from 'vitest';
import { formatSummary } from '../../src/cli/commands/enqueue.js';
import { formatTable } from '../../src/cli/table.js';
import type { MigrationJobResult } from '../../src/queue/contract.js';
import { printable } from '../../src/queue/printable.js';

describe('formatTable', () => {
  it('pads every column but the last, one line per row', () => {
    expect(formatTable(['A', 'BB', 'C'], [['long', 'x', 'tail text']])).toBe(
      'A     BB  C\nlong  x   tail text',
    );
  });

  it('shows a cell with a newline or another control character as a JSON string, keeping one line per row', () => {
    const table = formatTable(
      ['DATABASE', 'STATE', 'ERROR'],
      [
        ['/p/new\nline.db', 'done', ''],
        ['/p/plain.db', 'failed', 'NOT_A_DATABASE: /p/tab\there'],
      ],
    );
    expect(table.split('\n')).toEqual([
      'DATABASE           STATE   ERROR',
      '"/p/new\\nline.db"  done',
      '/p/plain.db        failed  "NOT_A_DATABASE: /p/tab\\there"',
    ]);
  });

  it('escapes what JSON.stringify leaves raw: DEL, C1 controls, line separators, bidi overrides', () => {
    expect(printable('a\u007fb\u0085c\u2028d\u202ee')).toBe('"a\\u007fb\\u0085c\\u2028d\\u202ee"');
    expect(JSON.parse(printable('/p/x\u2029y\n'))).toBe('/p/x\u2029y\n');
  });

  it('leaves plain text alone, quotes, backslashes and non-ASCII letters included', () => {
    for (const text of ['/p/"quoted"/a.db', 'C:\\gao\\documents.db', '/p/ünïcødé/文書.db']) {
      expect(printable(text)).toBe(text);
    }
  });

  it('keeps the enqueue summary, which shares it, one line per database', () => {
    const summary = formatSummary(
      [
        {
          jobId: '1',
          dbPath: '/p/a\r\nb.db',
          state: 'failed',
          result: null,
          failedReason: 'DB_NOT_FOUND: /p/a\r\nb.db',
          progress: null,
          attemptsMade: 1,
        },
      ],
      0,
      1,
    );
    expect(summary.split('\n')[1]).toBe(
      '"/p/a\\r\\nb.db"  failed  -       -         "DB_NOT_FOUND: /p/a\\r\\nb.db"',
    );
  });

  it('names the backups that earlier attempts of a retried job kept, one line per database', () => {
    const result = {
      status: 'applied',
      backupPath: '/p/documents.backup_3.db',
      durationMs: 12,
      discarded: [],
      earlierBackups: ['/p/documents.backup_1.db', '/p/documents.backup_2.db'],
    } as unknown as MigrationJobResult;
    const summary = formatSummary(
      [
        {
          jobId: '1',
          dbPath: '/p/documents.db',
          state: 'completed',
          result,
          failedReason: null,
          progress: null,
          attemptsMade: 3,
        },
        {
          jobId: '2',
          dbPath: '/q/documents.db',
          state: 'completed',
          result: { ...result, backupPath: '/q/documents.backup_1.db', earlierBackups: [] },
          failedReason: null,
          progress: null,
          attemptsMade: 1,
        },
      ],
      2,
      0,
    );
    expect(summary.split('\n').slice(1)).toEqual([
      '/p/documents.db  applied  /p/documents.backup_3.db  12 ms',
      '/q/documents.db  applied  /q/documents.backup_1.db  12 ms',
      '2 completed, 0 failed, 0 unfinished.',
      'Earlier attempts on /p/documents.db failed after their backup, kept: /p/documents.backup_1.db, /p/documents.backup_2.db',
      '',
    ]);
  });
});
