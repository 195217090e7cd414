import { describe, expect, it } from 'vitest';
import { I18nCollector } from '../../src/mapping/i18n-collector.js';

describe('i18n keys', () => {
  it('names keys after their first slot, shares a key per identical text, and marks one default', () => {
    const c = new I18nCollector('zh-CN');
    expect(c.add('title', new Map([['zh-CN', '报销']]))).toBe('@i18n@title');
    expect(
      c.add(
        'form.0.name',
        new Map([
          ['zh-CN', '金额'],
          ['en-US', 'Amount'],
        ]),
      ),
    ).toBe('@i18n@form.0.name');
    expect(c.add('task.0.node_name', new Map([['zh-CN', '财务']]))).toBe('@i18n@task.0.node_name');
    expect(c.add('task.1.node_name', new Map([['zh-CN', '财务']]))).toBe('@i18n@task.0.node_name');
    // same default text, other translation: another key
    expect(
      c.add(
        'form.1.name',
        new Map([
          ['zh-CN', '金额'],
          ['en-US', 'Sum'],
        ]),
      ),
    ).toBe('@i18n@form.1.name');
    expect(c.resources()).toEqual([
      {
        locale: 'zh-CN',
        is_default: true,
        texts: [
          { key: '@i18n@title', value: '报销' },
          { key: '@i18n@form.0.name', value: '金额' },
          { key: '@i18n@task.0.node_name', value: '财务' },
          { key: '@i18n@form.1.name', value: '金额' },
        ],
      },
      {
        locale: 'en-US',
        is_default: false,
        texts: [
          { key: '@i18n@form.0.name', value: 'Amount' },
          { key: '@i18n@form.1.name', value: 'Sum' },
        ],
      },
    ]);
  });

  it('always emits the default locale, even without texts', () => {
    expect(new I18nCollector('en-US').resources()).toEqual([
      { locale: 'en-US', is_default: true, texts: [] },
    ]);
  });
});
