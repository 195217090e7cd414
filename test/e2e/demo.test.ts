// The demo as a user runs it: a child process that brings up a throwaway Postgres with the emails-only
// schema, the fake Feishu with a directory and no definitions, applies the definitions, resolves the
// users by email and mobile, shows a decision taken in the fake's user view flowing back, syncs instances, and removes everything it created, whether it stops on
// its own (--seconds) or on Ctrl-C (SIGINT).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { cliEntry } from '../support/cli-entry.js';

/** The bundled CLI (test/support/cli-entry.ts): the same commands, a third of tsx's start-up CPU. */
const BIN = cliEntry();

interface DemoRun {
  code: number | null;
  lines: string[];
}

function startDemo(
  args: string[],
  onLine: (line: string, stop: (signal: NodeJS.Signals) => void) => void = () => undefined,
): Promise<DemoRun> {
  const child = spawn(process.execPath, [BIN, 'demo', ...args], {
    env: { ...process.env, APPROVAL_CDC_LOG_LEVEL: 'error' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let partial = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      onLine(line, (signal) => child.kill(signal));
    }
  });
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      if (partial) lines.push(partial);
      resolve({ code, lines });
    });
  });
}

function dataDirOf(run: DemoRun): string {
  const line = run.lines.find((l) => l.startsWith('postgres data dir: '));
  expect(line, run.lines.join('\n')).toBeDefined();
  return (line as string).slice('postgres data dir: '.length).trim();
}

function summaryOf(run: DemoRun): Record<string, unknown> {
  const last = run.lines.filter((l) => l.trim() !== '').at(-1) ?? '';
  return JSON.parse(last) as Record<string, unknown>;
}

describe('approval-cdc demo', () => {
  it('syncs instances into the fake Feishu within --seconds and leaves no Postgres directory behind', async () => {
    // The definitions, the users report and the closed loop all come before --seconds starts counting.
    const run = await startDemo(['--seconds', '3']);
    expect(run.code, run.lines.join('\n')).toBe(0);
    const summary = summaryOf(run);
    expect(summary.demo).toBe('done');
    expect(summary.instancesInFeishu).toBeGreaterThan(0);
    expect(summary.pushesAccepted).toBeGreaterThan(0);
    expect(summary.changesApplied).toBeGreaterThan(0);
    const dir = dataDirOf(run);

    // Definitions applied to a Feishu that had none (instances then reach it under their codes).
    const out = run.lines.join('\n');
    expect(out).toContain(
      'definitions apply (examples/emails-only/mappings/definitions.yaml): 3 approval definitions in Feishu',
    );
    for (const key of ['oa-leave', 'oa-expense', 'oa-purchase'])
      expect(out).toMatch(new RegExp(`^  ${key}: create -> approval_code [0-9A-F-]{36}$`, 'm'));
    expect(summary.definitionsApplied).toBe(3);
    // Users known by email and mobile only, resolved through batch_get_id; the one not in Feishu parks.
    expect(out).toContain('(user_id): no Feishu user; referenced by 1 instance(s)');
    expect(out).toMatch(
      /^ {4}oa-req-201: .*no Feishu user for email user20@corp\.example, then mobile 13900000020$/m,
    );
    expect(out).toContain('users: 19 of 20 people resolved to Feishu user_ids');
    expect(out).toMatch(/^ {2}by email: user1@corp\.example -> u_1, /m);
    expect(out).toContain('  by mobile: 13900000002 -> u_2 ');
    expect(out).toContain('  not in Feishu: user20@corp.example:');
    expect([summary.usersResolved, summary.usersUnresolved]).toEqual([19, 1]);
    // A bot card, the fake's user approving it, the write-back in the legacy rows, APPROVED in Feishu.
    expect(out).toMatch(
      /^ {2}bot card sent to u_3 \(message \S+\), buttons APPROVE, REJECT; task in Feishu: PENDING$/m,
    );
    expect(out).toContain("  the fake's user u_3 clicks APPROVE: the callback answers HTTP 200");
    expect(out).toMatch(
      /^ {2}write-back: oa\.steps \d+ state_code 0 -> 1 \(opinion "approved in Feishu"\), oa\.requests \d+ status_code 1 -> 2$/m,
    );
    expect(out).toMatch(
      /^ {2}back through the stream: Feishu has oa-req-\d+ APPROVED, task APPROVED, the card closed/m,
    );
    expect(summary.decisionApplied).toBe(true);
    expect(dir).toMatch(/approval-cdc-pg-/);
    expect(existsSync(dir)).toBe(false);
  }, 180_000);

  it('stops cleanly on a double Ctrl-C (SIGINT twice): exit 0, a summary last, the Postgres server and its directory gone', async () => {
    let pgUrl = '';
    let stopped = false;
    const run = await startDemo(['--rate', '10'], (line, stop) => {
      const m = /^legacy database: (\S+)/.exec(line);
      if (m) pgUrl = (m[1] as string).replace(':***@', ':postgres@');
      // The first line of figures after streaming started: the demo is in full swing. The second
      // Ctrl-C comes while it stops (it once ended in "LOCK_HELD: lost the active lock").
      if (/^t=\d+s .*streaming=1/.test(line) && !stopped) {
        stopped = true;
        stop('SIGINT');
        setTimeout(() => stop('SIGINT'), 200);
      }
    });
    expect(run.code, run.lines.join('\n')).toBe(0);
    expect(summaryOf(run).demo).toBe('done');
    expect(existsSync(dataDirOf(run))).toBe(false);
    expect(pgUrl).not.toBe('');
    const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined);
    await expect(client.connect()).rejects.toThrow();
  }, 180_000);
});
