import { describe, expect, it } from 'vitest';
import { boundedId, instanceIdOf, MAX_RAW_ID } from '../../src/replica/instance-vocabulary.js';

describe('instance ids of any key length', () => {
  it('keeps a short id as it is and names a long one by its digest, within a btree entry', () => {
    expect(instanceIdOf({ mapping: 'm', key: ['1'] })).toBe('["m","1"]');
    const long = instanceIdOf({ mapping: 'm', key: ['x'.repeat(6400)] });
    expect(long).toMatch(/^\["m","x+…sha256:[0-9a-f]{64}$/);
    expect(Buffer.byteLength(long)).toBeLessThan(400);
    expect(instanceIdOf({ mapping: 'm', key: ['x'.repeat(6400)] })).toBe(long);
    expect(instanceIdOf({ mapping: 'm', key: ['x'.repeat(6399) + 'y'] })).not.toBe(long);
  });

  it('never turns a long id into one a short key has, nor splits a surrogate pair', () => {
    const long = boundedId('["mm","' + '😀'.repeat(MAX_RAW_ID) + '"]');
    expect(long.endsWith(']')).toBe(false);
    expect(boundedId(long)).toBe(long); // already short: a short id never ends with a hex digit
    expect(Buffer.from(long, 'utf8').toString('utf8')).toBe(long);
    expect(long).not.toContain('\ufffd');
  });
});
