import { describe, expect, it } from 'vitest';
import { copyField, parseCopyFields } from '../../src/core/copy-text.js';

describe('COPY text fields', () => {
  it('reads back every value it writes, NULL and the text \\N kept apart', () => {
    const values = [
      'plain',
      '',
      null,
      '\\N',
      'tab\there',
      'nl\nand\rcr',
      'back\\slash\\',
      '\b\f\v',
      '审批 🚀',
    ];
    const line = values.map(copyField).join('\t');
    expect(line).not.toMatch(/\n/);
    expect(parseCopyFields(line)).toEqual(values);
  });

  it('reads the escapes COPY FROM accepts, octal and hex among them', () => {
    expect(parseCopyFields('a\\101\\x42\\q\t\\N\t')).toEqual(['aABq', null, '']);
  });
});
