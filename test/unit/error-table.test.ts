import { describe, expect, it } from 'vitest';
import { FEISHU_CODES, classifyFeishuFailure } from '../../src/feishu/error-table.js';

const disposition = (input: Parameters<typeof classifyFeishuFailure>[0]): string =>
  classifyFeishuFailure(input).disposition;

describe('classifyFeishuFailure', () => {
  it('retries rate limiting, whether signalled by HTTP 429 or by code 99991400 on HTTP 400', () => {
    expect(disposition({ httpStatus: 429 })).toBe('retry');
    expect(disposition({ httpStatus: 429, code: FEISHU_CODES.RATE_LIMITED })).toBe('retry');
    expect(disposition({ httpStatus: 400, code: FEISHU_CODES.RATE_LIMITED })).toBe('retry');
  });

  it('retries "try again later" and the ambiguous 1390014', () => {
    expect(disposition({ httpStatus: 400, code: 1395001 })).toBe('retry');
    expect(disposition({ httpStatus: 500, code: 1395001 })).toBe('retry');
    expect(disposition({ httpStatus: 400, code: 1390014 })).toBe('retry');
  });

  it('retries server errors and every network failure', () => {
    for (const status of [500, 502, 503, 504]) expect(disposition({ httpStatus: status })).toBe('retry');
    expect(disposition({ httpStatus: 503, code: 12345 })).toBe('retry');
    for (const network of ['timeout', 'reset', 'refused'] as const)
      expect(disposition({ network })).toBe('retry');
  });

  it('renews the token on an invalid or missing token', () => {
    expect(disposition({ httpStatus: 400, code: 99991663 })).toBe('renew-token');
    expect(disposition({ httpStatus: 401, code: 99991663 })).toBe('renew-token');
    expect(disposition({ httpStatus: 400, code: 99991661 })).toBe('renew-token');
  });

  it('tells the monthly quota (99991403, 99991406) from the rate limit although all are HTTP 429', () => {
    expect(disposition({ httpStatus: 429, code: 99991400 })).toBe('retry');
    expect(disposition({ httpStatus: 429, code: 99991403 })).toBe('quota');
    expect(disposition({ httpStatus: 429, code: 99991406 })).toBe('quota');
  });

  it('parks payload errors, HTTP 4xx without a code and unknown codes with HTTP 400', () => {
    expect(disposition({ httpStatus: 400, code: 1390001 })).toBe('park');
    expect(disposition({ httpStatus: 400, code: 1390002 })).toBe('park');
    expect(disposition({ httpStatus: 400, code: 4242424 })).toBe('park');
    expect(disposition({ httpStatus: 413 })).toBe('park');
    expect(disposition({ httpStatus: 400, code: 10003 })).toBe('park');
  });

  it('stops on a missing scope, a user-token error and bad credentials at the token endpoint', () => {
    expect(disposition({ httpStatus: 400, code: 99991672 })).toBe('stop');
    expect(disposition({ httpStatus: 400, code: 99991668 })).toBe('stop');
    expect(disposition({ httpStatus: 200, code: 10003, endpoint: 'token' })).toBe('stop');
    expect(disposition({ httpStatus: 200, code: 10014, endpoint: 'token' })).toBe('stop');
    expect(disposition({ httpStatus: 200, code: 10015, endpoint: 'token' })).toBe('stop');
    expect(disposition({ httpStatus: 200, code: 777, endpoint: 'token' })).toBe('stop');
  });

  it('never stops on an HTTP status without a Feishu code: a 401 renews the token, 403/404/405 retry', () => {
    expect(disposition({ httpStatus: 401 })).toBe('renew-token');
    expect(disposition({ httpStatus: 401, endpoint: 'token' })).toBe('retry');
    expect(disposition({ httpStatus: 403 })).toBe('retry');
    expect(disposition({ httpStatus: 404 })).toBe('retry');
    expect(disposition({ httpStatus: 405 })).toBe('retry');
    expect(disposition({ httpStatus: 413 })).toBe('park');
  });

  it('gives every verdict a reason naming the code', () => {
    expect(classifyFeishuFailure({ httpStatus: 400, code: 1390001 }).reason).toContain('1390001');
    expect(classifyFeishuFailure({ httpStatus: 400, code: 99991672 }).reason).toContain('scope');
  });
});
