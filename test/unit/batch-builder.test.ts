import { Writable } from 'node:stream';
import type { Pgoutput } from 'pg-logical-replication';
import { describe, expect, it } from 'vitest';
import { BatchBuilder } from '../../src/source/batch-builder.js';
import { createLogger } from '../../src/core/logger.js';

function builder(truncate: 'ignore' | 'delete' = 'delete') {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const b = new BatchBuilder({
    tables: new Set(['oa.requests']),
    columns: new Map([['oa.requests', ['req_id', 'title']]]),
    truncate,
    logger: createLogger('info', stream),
  });
  return { b, log: () => lines.join('') };
}

function relation(name: string, columns = ['req_id', 'title']): Pgoutput.MessageRelation {
  return {
    tag: 'relation',
    relationOid: 1,
    schema: 'oa',
    name,
    replicaIdentity: 'default',
    columns: columns.map((c) => ({
      name: c,
      flags: 0,
      typeOid: 25,
      typeMod: -1,
      typeSchema: null,
      typeName: null,
      parser: (v: unknown) => v,
    })),
    keyColumns: ['req_id'],
  };
}

const requests = relation('requests');
const other = relation('other');
const begin = (commitLsn: string): Pgoutput.MessageBegin => ({
  tag: 'begin',
  commitLsn,
  commitTime: 0n,
  xid: 1,
});
const commit = (commitEndLsn: string): Pgoutput.MessageCommit => ({
  tag: 'commit',
  flags: 0,
  commitLsn: null,
  commitEndLsn,
  commitTime: 1_796_000_000_000_000n,
});
const insert = (rel: Pgoutput.MessageRelation, id: string): Pgoutput.MessageInsert => ({
  tag: 'insert',
  relation: rel,
  new: { req_id: id, title: `R${id}` },
});

describe('batch builder', () => {
  it('ends a batch at the last complete transaction and holds the open one with its commit LSN', () => {
    const { b } = builder();
    b.begin(begin('0/100'));
    b.change('0/90', insert(requests, '1'));
    b.commit('0/100', commit('0/110'));
    b.begin(begin('0/200'));
    b.change('0/190', insert(requests, '2'));
    const first = b.take();
    expect(first.changes.map((c) => c.lsn)).toEqual([0x90n, 0x190n]);
    expect(first).toMatchObject({ endLsn: 0x110n, txStarts: [0, 1], txOpen: true, openCommitLsn: 0x200n });
    expect(b.idle).toBe(false);
    b.commit('0/200', commit('0/210'));
    const second = b.take();
    expect(second).toMatchObject({ changes: [], endLsn: 0x210n, txStarts: [], txOpen: false });
    expect(second.openCommitLsn).toBeUndefined();
    expect(b.idle).toBe(true);
    expect(b.hasBatch).toBe(false);
  });

  it('leaves no transaction mark for a transaction that changed no mapped table', () => {
    const { b } = builder();
    b.begin(begin('0/100'));
    b.change('0/90', insert(other, '1'));
    b.commit('0/100', commit('0/110'));
    b.begin(begin('0/200'));
    b.change('0/190', insert(requests, '2'));
    b.commit('0/200', commit('0/210'));
    expect(b.take()).toMatchObject({ endLsn: 0x210n, txStarts: [0], txOpen: false });
  });

  it('starts the next batch with a transaction begun before any of its changes arrived', () => {
    const { b } = builder();
    b.begin(begin('0/100'));
    b.change('0/90', insert(requests, '1'));
    b.commit('0/100', commit('0/110'));
    b.begin(begin('0/200'));
    b.take();
    b.change('0/190', insert(requests, '2'));
    expect(b.take()).toMatchObject({ endLsn: null, commitTime: null, txStarts: [0], txOpen: true });
  });

  it('ignores a truncate with truncate=ignore and says so, and names a mapped column that vanished once', () => {
    const { b, log } = builder('ignore');
    b.change('0/90', { tag: 'truncate', cascade: false, restartIdentity: false, relations: [requests] });
    expect(b.size).toBe(0);
    b.relation(relation('requests', ['req_id']));
    b.relation(relation('requests', ['req_id']));
    const text = log();
    expect(text).toContain('TRUNCATE of a mapped table ignored');
    expect(text.match(/mapped columns title of oa.requests no longer exist/g)).toHaveLength(1);
  });
});
