import { describe, expect, it } from 'vitest';
import { CdcError, type Disposition, type FeishuErrorDetails } from '../../src/errors.js';
import { backoffMs, DEFAULT_RETRY_POLICY, failureOf, nextStep } from '../../src/sync/retry-policy.js';

const feishuError = (disposition: Disposition, extra: Partial<FeishuErrorDetails> = {}) =>
  new CdcError('FEISHU_API', 'boom', { details: { endpoint: '/x', reason: 'boom', disposition, ...extra } });

describe('retry policy', () => {
  it('retries transient failures with a growing, capped, jittered delay', () => {
    const policy = { baseDelayMs: 100, maxDelayMs: 5000, maxAttempts: 0 };
    expect(backoffMs(1, policy, 1)).toBe(100);
    expect(backoffMs(1, policy, 0)).toBe(50);
    expect(backoffMs(4, policy, 1)).toBe(800);
    expect(backoffMs(30, policy, 1)).toBe(5000);
    expect(backoffMs(30, policy, 0)).toBe(2500);
  });
  it('waits at least as long as the server asked (x-ogw-ratelimit-reset)', () => {
    const step = nextStep(feishuError('retry', { retryAfterMs: 9000 }), 1, DEFAULT_RETRY_POLICY, 0);
    expect(step).toMatchObject({ action: 'retry' });
    expect(step.action === 'retry' && step.delayMs).toBeGreaterThanOrEqual(9000);
  });
  it('parks payload errors with their text', () => {
    expect(nextStep(feishuError('park'), 1, DEFAULT_RETRY_POLICY, 0.5)).toEqual({
      action: 'park',
      reason: 'FEISHU_API: boom',
    });
  });
  it('stops on credential and scope errors', () => {
    expect(nextStep(feishuError('stop'), 1, DEFAULT_RETRY_POLICY, 0.5).action).toBe('stop');
  });
  it('treats a token that was renewed and refused again as transient', () => {
    expect(nextStep(feishuError('renew-token'), 1, DEFAULT_RETRY_POLICY, 0.5).action).toBe('retry');
  });
  it('parks after maxAttempts transient failures when a cap is set', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, maxAttempts: 3 };
    expect(nextStep(feishuError('retry'), 2, policy, 0.5).action).toBe('retry');
    expect(nextStep(feishuError('retry'), 3, policy, 0.5)).toMatchObject({
      action: 'park',
      reason: expect.stringMatching(/gave up after 3 attempts/),
    });
  });
  it('parks limit violations and unmappable rows, retries unknown errors', () => {
    expect(nextStep(new CdcError('PAYLOAD_LIMIT', 'too many tasks'), 1, DEFAULT_RETRY_POLICY, 0).action).toBe(
      'park',
    );
    expect(nextStep(new CdcError('MAPPING_UNMAPPABLE', 'no user'), 1, DEFAULT_RETRY_POLICY, 0).action).toBe(
      'park',
    );
    expect(nextStep(new Error('socket hang up'), 1, DEFAULT_RETRY_POLICY, 0).action).toBe('retry');
  });
});

describe('write-back failures in the one retry table', () => {
  it('retries a write-back the legacy side cannot take now and parks one it refused outright', () => {
    const busy = new CdcError('WRITE_BACK_TRANSIENT', 'write-back call answered HTTP 503 busy');
    const refused = new CdcError('WRITE_BACK_FAILED', 'write-back call answered HTTP 400 bad request');
    expect(failureOf(busy).disposition).toBe('retry');
    expect(failureOf(refused).disposition).toBe('park');
  });
});
