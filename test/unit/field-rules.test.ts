import { describe, expect, it } from 'vitest';
import { payloadLimitViolations } from '../../src/feishu/payload-schema.js';
import { evaluate } from '../../src/mapping/expression.js';
import { checkLink } from '../../src/mapping/feishu-field-rules.js';
import type { PathProblem } from '../../src/mapping/mapping-problem.js';
import { samplePayload, sampleTask } from '../support/sample-payload.js';

const env = (row: Record<string, string | null>) => ({ row, load: () => [], notes: [] }) as never;

describe('Feishu field rules', () => {
  it('parks values Feishu would reject, naming the field path of each', () => {
    const base = samplePayload();
    const payload = samplePayload({
      approval_code: '',
      user_id: '',
      links: { pc_link: 'not a url' },
      title: 'T'.repeat(100_000),
      i18n_resources: [{ ...base.i18n_resources[0]!, texts: [] }],
      task_list: [{ ...sampleTask('oa-step-1\n2'), links: { pc_link: 'https://oa.example.com/x' } }],
    });
    const found = payloadLimitViolations(payload);
    expect(found).toEqual(
      expect.arrayContaining([
        'approval_code is empty',
        'user_id is ""; omit it instead',
        'links.pc_link "not a url" is not an absolute http(s) URL',
        'title has 100000 characters; at most 1000',
        'task_list[0].task_id "oa-step-1\\n2" holds whitespace or a control character',
      ]),
    );
  });

  it('percent-encodes the values a link template substitutes, keeping a leading base placeholder', () => {
    const problems: PathProblem[] = [];
    const link = checkLink(
      { op: 'template', parts: ['https://oa.example.com/requests/', { column: 'id' }], onNull: 'empty' },
      [],
      problems,
    );
    expect(evaluate(link, env({ id: '12/3?x=1&y=2 #' }))).toBe(
      'https://oa.example.com/requests/12%2F3%3Fx%3D1%26y%3D2%20%23',
    );
    const based = checkLink(
      { op: 'template', parts: [{ column: 'base' }, '/r/', { column: 'id' }], onNull: 'empty' },
      [],
      problems,
    );
    expect(evaluate(based, env({ base: 'https://oa.example.com', id: 'a b' }))).toBe(
      'https://oa.example.com/r/a%20b',
    );
    expect(problems).toEqual([]);
  });
});
