// Starts one throwaway Postgres for the whole test run unless TEST_DATABASE_URL names a server, and
// makes one template database with the state schema migrated. Each test file then gets its own
// database cloned from it (see test-database.ts), so no file pays for the migrations again. Also
// bundles the CLI once for the tests' child processes (cli-entry.ts).
import { rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { buildCliEntry } from './cli-entry.js';
import { createTemplateDatabase, type TestDatabase } from './test-database.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from './throwaway-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    /** The database every test database is cloned from. */
    templateDatabase: string;
    /** The bundled CLI (cli-entry.ts). */
    cliEntry: string;
  }
}

let cluster: ThrowawayPostgres | undefined;
let template: TestDatabase | undefined;
let cli: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  const external = process.env.TEST_DATABASE_URL;
  if (!external) cluster = await startThrowawayPostgres();
  const adminUrl = external ?? (cluster as ThrowawayPostgres).url;
  [template, cli] = await Promise.all([createTemplateDatabase(adminUrl), buildCliEntry()]);
  project.provide('adminUrl', adminUrl);
  project.provide('templateDatabase', template.name);
  project.provide('cliEntry', cli);
}

export async function teardown(): Promise<void> {
  await template?.drop();
  await cluster?.stop();
  if (cli) rmSync(cli, { force: true });
}
