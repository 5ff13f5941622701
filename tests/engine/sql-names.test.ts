import { describe, expect, it } from 'vitest';
import { referencedNames } from '../../src/engine/sql-names.js';

describe('referencedNames', () => {
  it('reads words and quoted identifiers in every quoting form, lower-cased, with doubled quotes undone', () => {
    const names = referencedNames('SELECT "Success ""Rate""", `b``c`, [d e], x.Y FROM main.T');
    expect([...names].sort()).toEqual([
      'b`c',
      'd e',
      'from',
      'main',
      'select',
      'success "rate"',
      't',
      'x',
      'y',
    ]);
  });

  it('takes strings too, which SQLite reads as names where only a name fits', () => {
    expect(referencedNames("UPDATE t SET 'success_rate' = 1").has('success_rate')).toBe(true);
  });

  it('leaves out comments, numbers and the name after AS (an alias, or the type in CAST)', () => {
    const names = referencedNames(
      "SELECT a AS confidence_score, CAST(b AS 'decay_factor'), 1.5e3 -- application_count\n/* success_rate */ FROM t AS [x]",
    );
    expect([...names].sort()).toEqual(['a', 'as', 'b', 'cast', 'from', 'select', 't']);
  });

  it('reads an unterminated quote or comment to the end', () => {
    expect([...referencedNames('SELECT "abc')]).toEqual(['select', 'abc']);
    expect([...referencedNames('SELECT a /* b')]).toEqual(['select', 'a']);
    expect([...referencedNames('SELECT a -- b')]).toEqual(['select', 'a']);
  });
});
