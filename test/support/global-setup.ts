// Starts one throwaway Postgres for the whole test run unless TEST_DATABASE_URL names a server.
// Each test file then gets its own database (see test-database.ts).
import type { TestProject } from 'vitest/node';
import { startThrowawayPostgres, type ThrowawayPostgres } from './throwaway-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
  }
}

let cluster: ThrowawayPostgres | undefined;

export async function setup(project: TestProject): Promise<void> {
  const external = process.env.TEST_DATABASE_URL;
  if (external) {
    project.provide('adminUrl', external);
    return;
  }
  cluster = await startThrowawayPostgres();
  project.provide('adminUrl', cluster.url);
}

export async function teardown(): Promise<void> {
  await cluster?.stop();
}
