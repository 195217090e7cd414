// Every file in broken/ is a mapping with known mistakes; each must be refused with exactly these
// messages (<file>:<line>:<col> <path>: <found>; expected <what>), and loadMappings must throw them all.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isCdcError } from '../../src/errors.js';
import { checkMappingFiles, loadMappings } from '../../src/mapping/mapping-loader.js';

const DIR = 'test/support/broken-mappings';

const EXPECTED: Record<string, string[]> = {
  'task-id-is-other-instance-id.yaml': [
    `${DIR}/task-id-is-other-instance-id.yaml:53:13 mappings[1].tasks[0].id: "oa-req-{step_id}", a constant prefix "oa-req-" that overlaps "oa-req-" of mappings[0].instance.id in test/support/broken-mappings/task-id-is-other-instance-id.yaml; expected an id template whose constant prefix is not a prefix of another mapping's (instance, task and CC ids share one space)`,
  ],
  'same-table-without-filters.yaml': [
    `${DIR}/same-table-without-filters.yaml:41:11 mappings[1].instance.id: "oa-req-{req_id}", the same template as mappings[0].instance.id in test/support/broken-mappings/same-table-without-filters.yaml; expected an id prefix of its own, or instance filters (where) that provably separate the two mappings of oa.requests`,
  ],
  'same-table-overlapping-filters.yaml': [
    `${DIR}/same-table-overlapping-filters.yaml:43:11 mappings[1].instance.id: "oa-req-{req_id}", the same template as mappings[0].instance.id in test/support/broken-mappings/same-table-overlapping-filters.yaml; expected an id prefix of its own, or instance filters (where) that provably separate the two mappings of oa.requests`,
  ],
  'cc-id-overlaps-other-task-id.yaml': [
    `${DIR}/cc-id-overlaps-other-task-id.yaml:61:13 mappings[1].ccs[0].id: "oa-step-{cc_no}", a constant prefix "oa-step-" that overlaps "oa-step-" of mappings[0].tasks[0].id in test/support/broken-mappings/cc-id-overlaps-other-task-id.yaml; expected an id template whose constant prefix is not a prefix of another mapping's (instance, task and CC ids share one space)`,
  ],
  'instance-prefix-across-mappings.yaml': [
    `${DIR}/instance-prefix-across-mappings.yaml:41:11 mappings[1].instance.id: "oa-arch-{req_id}", a constant prefix "oa-arch-" that overlaps "oa-" of mappings[0].instance.id in test/support/broken-mappings/instance-prefix-across-mappings.yaml; expected an id template whose constant prefix is not a prefix of another mapping's (instance, task and CC ids share one space)`,
  ],
  'empty-approval-code.yaml': [
    `${DIR}/empty-approval-code.yaml:13:22 mappings[0].instance.approval_code: ""; expected a non-empty value (omit the field instead)`,
  ],
  'link-without-scheme.yaml': [
    `${DIR}/link-without-scheme.yaml:17:25 mappings[0].instance.links.pc_link: "oa.example.com/requests/{req_id}", which does not start with http:// or https://; expected an absolute http(s) URL template such as https://oa.example.com/requests/{req_id}`,
  ],
  'constant-link-not-url.yaml': [
    `${DIR}/constant-link-not-url.yaml:17:82 mappings[0].instance.links.mobile_link: "see the portal"; expected an absolute http(s) URL`,
  ],
  'id-with-space.yaml': [
    `${DIR}/id-with-space.yaml:12:11 mappings[0].instance.id: "oa req-{req_id}" containing " "; expected an id without whitespace or control characters`,
  ],
  'id-with-newline.yaml': [
    `${DIR}/id-with-newline.yaml:24:13 mappings[0].tasks[0].id: "oa-step-\\n{step_id}" containing "\\n"; expected an id without whitespace or control characters`,
  ],
  'id-too-long.yaml': [
    `${DIR}/id-too-long.yaml:32:13 mappings[0].ccs[0].id: "oa-cc-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-{cc_no}", 137 characters before any value; expected an id of at most 128 characters`,
  ],
  'empty-user-id.yaml': [
    `${DIR}/empty-user-id.yaml:25:18 mappings[0].tasks[0].user_id: ""; expected a non-empty value (omit the field instead)`,
  ],
  'alias-bomb.yaml': [
    `${DIR}/alias-bomb.yaml:8:8 f[0]: an alias expanding to more than 100000 values; expected a mapping file without alias bombs (fewer, flatter aliases)`,
  ],
  'latin1-text.yaml': [
    `${DIR}/latin1-text.yaml:15:28 (root): byte 0xe9, which is not UTF-8 (Latin-1 or GBK?); expected UTF-8 (convert the file, e.g. iconv -f GBK -t UTF-8)`,
  ],
  'utf16-file.yaml': [
    `${DIR}/utf16-file.yaml:1:1 (root): text encoded as UTF-16LE; expected UTF-8 (save the file as UTF-8)`,
  ],
  'bad-default-locale.yaml': [
    `${DIR}/bad-default-locale.yaml:5:19 defaults.default_locale: "zh_CN"; expected one of zh-CN, en-US, ja-JP, zh-HK, zh-TW, de-DE, es-ES, fr-FR, id-ID, it-IT, ko-KR, pt-BR, th-TH, vi-VN, ms-MY, ru-RU`,
  ],
  'bad-filter-condition.yaml': [
    `${DIR}/bad-filter-condition.yaml:23:32 mappings[0].tasks[0].where.state_code.like: unknown condition "like"; expected one of eq, ne, in, not_in, is_null`,
  ],
  'bad-instance-status.yaml': [
    `${DIR}/bad-instance-status.yaml:14:60 mappings[0].instance.status.values["2"]: "APPROVE"; expected one of PENDING, APPROVED, REJECTED, CANCELED, DELETED, HIDDEN, TERMINATED`,
  ],
  'bad-json-path.yaml': [
    `${DIR}/bad-json-path.yaml:15:34 mappings[0].instance.title.path: "$..title" (cannot read "..title"); expected a JSON path such as $.items[0].name`,
  ],
  'bad-placeholder.yaml': [
    `${DIR}/bad-placeholder.yaml:17:25 mappings[0].instance.links.pc_link: "https://oa.example.com/requests/{req id}" with a bad placeholder "{req id}"; expected placeholders {column} (write {{ and }} for literal braces)`,
  ],
  'bad-task-on-delete.yaml': [
    `${DIR}/bad-task-on-delete.yaml:24:20 mappings[0].tasks[0].on_delete: "purge"; expected drop, keep or { status: <task status> }`,
  ],
  'bad-task-status.yaml': [
    `${DIR}/bad-task-status.yaml:26:61 mappings[0].tasks[0].status.values["1"]: "CANCELED"; expected one of PENDING, APPROVED, REJECTED, TRANSFERRED, DONE`,
  ],
  'bad-time-format.yaml': [
    `${DIR}/bad-time-format.yaml:27:77 mappings[0].tasks[0].create_time.format[1]: "HHMMSS" (a time format holds no YYYY, MM (month) or DD; minutes are mm); expected a time format such as HHmmss or HH:mm`,
  ],
  'bad-time-zone.yaml': [
    `${DIR}/bad-time-zone.yaml:4:14 defaults.time_zone: "Asia/Shangai"; expected an IANA time zone such as Asia/Shanghai`,
  ],
  'bad-update-mode.yaml': [
    `${DIR}/bad-update-mode.yaml:9:18 mappings[0].update_mode: "MERGE"; expected one of REPLACE, UPDATE`,
  ],
  'conflicting-keys.yaml': [
    `${DIR}/conflicting-keys.yaml:30:14 mappings[0].ccs[0].key: key req_id, seq for oa.steps; expected the key declared before for it (step_id, at mappings[0].tasks[0].key)`,
  ],
  'duplicate-mapping-names.yaml': [
    `${DIR}/duplicate-mapping-names.yaml:37:11 mappings[1].name: "oa-request", already the name of test/support/broken-mappings/duplicate-mapping-names.yaml mappings[0]; expected a mapping name used once`,
  ],
  'empty-file.yaml': [
    `${DIR}/empty-file.yaml:1:1 (root): an empty document; expected a mapping file: an object with mappings`,
  ],
  'five-problems.yaml': [
    `${DIR}/five-problems.yaml:5:14 defaults.time_zone: "Mars/Base"; expected an IANA time zone such as Asia/Shanghai`,
    `${DIR}/five-problems.yaml:10:18 mappings[0].update_mode: "MERGE"; expected one of REPLACE, UPDATE`,
    `${DIR}/five-problems.yaml:16:60 mappings[0].instance.status.values["2"]: "DONE"; expected one of PENDING, APPROVED, REJECTED, CANCELED, DELETED, HIDDEN, TERMINATED`,
    `${DIR}/five-problems.yaml:18:7 mappings[0].instance.titel: unknown key "titel"; expected one of the keys table, key, columns, where, on_delete, id, approval_code, status, title, links, user_id, open_id, user_name, department_id, department_name, start_time, end_time, update_time, display_method, extra, form`,
    `${DIR}/five-problems.yaml:27:13 mappings[0].tasks[0].id: "oa-req-{step_id}", a constant prefix "oa-req-" that overlaps "oa-req-" of mappings[0].instance.id; expected an id template whose constant prefix is not a prefix of another's (e.g. "task-{id}" and "cc-{id}")`,
  ],
  'ids-without-prefix.yaml': [
    `${DIR}/ids-without-prefix.yaml:24:13 mappings[0].tasks[0].id: "{step_id}", a constant prefix "" that overlaps "oa-req-" of mappings[0].instance.id; expected an id template whose constant prefix is not a prefix of another's (e.g. "task-{id}" and "cc-{id}")`,
    `${DIR}/ids-without-prefix.yaml:32:13 mappings[0].ccs[0].id: "{cc_no}", a constant prefix "" that overlaps "oa-req-" of mappings[0].instance.id; expected an id template whose constant prefix is not a prefix of another's (e.g. "task-{id}" and "cc-{id}")`,
  ],
  'instance-id-reads-non-key.yaml': [
    `${DIR}/instance-id-reads-non-key.yaml:12:11 mappings[0].instance.id: "oa-req-{req_id}-{form_type}" reading form_type; expected a template reading exactly the key columns req_id`,
  ],
  'lookup-declared-twice.yaml': [
    `${DIR}/lookup-declared-twice.yaml:10:7 mappings[0].lookups.users: lookup "users" declared again; expected a name not used by a lookup of the file`,
  ],
  'lookup-key-arity.yaml': [
    `${DIR}/lookup-key-arity.yaml:25:39 mappings[0].tasks[0].user_id.by: a list of 2; expected 1 key value for user_no of lookup users`,
  ],
  'missing-instance-id.yaml': [
    `${DIR}/missing-instance-id.yaml:10:7 mappings[0].instance.id: nothing; expected a template text such as "prefix-{column}"`,
  ],
  'missing-mappings.yaml': [
    `${DIR}/missing-mappings.yaml:2:1 mappings: nothing; expected a list of mappings`,
  ],
  'no-default-locale-text.yaml': [
    `${DIR}/no-default-locale-text.yaml:15:14 mappings[0].instance.title: texts for en-US only; expected a text for the default locale zh-CN`,
  ],
  'no-time-zone.yaml': [
    `${DIR}/no-time-zone.yaml:17:27 mappings[0].instance.start_time.time: a time read from text with a format, which has no UTC offset, and no time zone to place it in; expected time_zone on the mapping or in defaults, or zone on this operator`,
    `${DIR}/no-time-zone.yaml:18:28 mappings[0].instance.update_time.time: a time read from text with a format, which has no UTC offset, and no time zone to place it in; expected time_zone on the mapping or in defaults, or zone on this operator`,
  ],
  'overlapping-id-prefixes.yaml': [
    `${DIR}/overlapping-id-prefixes.yaml:24:13 mappings[0].tasks[0].id: "oa-step-{step_id}", a constant prefix "oa-step-" that overlaps "oa-" of mappings[0].instance.id; expected an id template whose constant prefix is not a prefix of another's (e.g. "task-{id}" and "cc-{id}")`,
    `${DIR}/overlapping-id-prefixes.yaml:32:13 mappings[0].ccs[0].id: "oa-cc-{cc_no}", a constant prefix "oa-cc-" that overlaps "oa-" of mappings[0].instance.id; expected an id template whose constant prefix is not a prefix of another's (e.g. "task-{id}" and "cc-{id}")`,
  ],
  'parent-arity.yaml': [
    `${DIR}/parent-arity.yaml:23:17 mappings[0].tasks[0].parent: a list of 2; expected 1 column holding the instance key (req_id)`,
  ],
  'root-is-a-list.yaml': [
    `${DIR}/root-is-a-list.yaml:2:1 (root): a list of 1; expected a mapping file: an object with mappings`,
  ],
  'same-id-templates.yaml': [
    `${DIR}/same-id-templates.yaml:32:13 mappings[0].ccs[0].id: "oa-req-{cc_no}", a constant prefix "oa-req-" that overlaps "oa-req-" of mappings[0].instance.id; expected an id template whose constant prefix is not a prefix of another's (e.g. "task-{id}" and "cc-{id}")`,
  ],
  'several-problems.yaml': [
    `${DIR}/several-problems.yaml:4:14 defaults.time_zone: "Mars/Base"; expected an IANA time zone such as Asia/Shanghai`,
    `${DIR}/several-problems.yaml:14:60 mappings[0].instance.status.values["2"]: "DONE"; expected one of PENDING, APPROVED, REJECTED, CANCELED, DELETED, HIDDEN, TERMINATED`,
    `${DIR}/several-problems.yaml:24:13 mappings[0].tasks[0].id: "oa-req-{step_id}", a constant prefix "oa-req-" that overlaps "oa-req-" of mappings[0].instance.id; expected an id template whose constant prefix is not a prefix of another's (e.g. "task-{id}" and "cc-{id}")`,
  ],
  'table-without-schema.yaml': [
    `${DIR}/table-without-schema.yaml:10:14 mappings[0].instance.table: "requests"; expected a table name "schema.table"`,
  ],
  'task-id-without-key.yaml': [
    `${DIR}/task-id-without-key.yaml:24:13 mappings[0].tasks[0].id: "oa-step-{req_id}" without step_id; expected a template reading every key column (step_id)`,
  ],
  'truncate-zero.yaml': [
    `${DIR}/truncate-zero.yaml:15:41 mappings[0].instance.title.length: "0"; expected a whole number from 1 to 1000000`,
  ],
  'two-operators.yaml': [
    `${DIR}/two-operators.yaml:15:14 mappings[0].instance.title: several operators (column, truncate); expected exactly one operator: column, const, template, map, coalesce, concat, truncate, number, json, array, lookup, time, when, definition, feishu_user`,
  ],
  'undeclared-column.yaml': [
    `${DIR}/undeclared-column.yaml:14:29 mappings[0].instance.approval_code.map: column "form_type" which is not declared for oa.requests; expected one of req_id, title, status_code, applicant_no, submitted_at, updated_at`,
  ],
  'unknown-instance-key.yaml': [
    `${DIR}/unknown-instance-key.yaml:15:7 mappings[0].instance.titel: unknown key "titel"; expected one of the keys table, key, columns, where, on_delete, id, approval_code, status, title, links, user_id, open_id, user_name, department_id, department_name, start_time, end_time, update_time, display_method, extra, form`,
  ],
  'unknown-lookup.yaml': [
    `${DIR}/unknown-lookup.yaml:16:26 mappings[0].instance.user_id.lookup: unknown lookup "user"; expected one of users`,
  ],
  'unknown-operator.yaml': [
    `${DIR}/unknown-operator.yaml:15:14 mappings[0].instance.title: an object with keys colum; expected exactly one operator: column, const, template, map, coalesce, concat, truncate, number, json, array, lookup, time, when, definition, feishu_user`,
  ],
  'unknown-text-locale.yaml': [
    `${DIR}/unknown-text-locale.yaml:15:42 mappings[0].instance.title.xx-YY: unknown locale "xx-YY"; expected one of zh-CN, en-US, ja-JP, zh-HK, zh-TW, de-DE, es-ES, fr-FR, id-ID, it-IT, ko-KR, pt-BR, th-TH, vi-VN, ms-MY, ru-RU`,
  ],
  'unknown-top-level-key.yaml': [
    `${DIR}/unknown-top-level-key.yaml:2:1 mappings: nothing; expected a list of mappings`,
    `${DIR}/unknown-top-level-key.yaml:7:1 mapings: unknown key "mapings"; expected one of the keys version, defaults, lookups, mappings`,
  ],
  'yaml-syntax.yaml': [
    `${DIR}/yaml-syntax.yaml:16:7 (root): invalid YAML (Flow map in block collection must be sufficiently indented and end with a }); expected valid YAML`,
  ],
};

describe('broken mapping files', () => {
  it('has at least 25 of them, each with its expected messages', () => {
    const files = readdirSync(DIR)
      .filter((f) => f.endsWith('.yaml'))
      .sort();
    expect(files.length).toBeGreaterThanOrEqual(25);
    expect(files).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const [file, messages] of Object.entries(EXPECTED)) {
    it(`refuses ${file}`, () => {
      const result = checkMappingFiles(`${DIR}/${file}`);
      expect(result.ok).toBe(false);
      expect(result.errors.map((e) => e.message)).toEqual(messages);
      let thrown: unknown;
      try {
        loadMappings(`${DIR}/${file}`);
      } catch (err) {
        thrown = err;
      }
      expect(isCdcError(thrown, 'MAPPING_INVALID')).toBe(true);
      const n = messages.length;
      expect((thrown as Error).message).toBe(
        `${n} problem${n === 1 ? '' : 's'} in the mapping files:\n${messages.join('\n')}`,
      );
    });
  }
});
