import { describe, expect, it } from 'vitest';
import { PushGate, type PushGateState } from '../../src/sync/push-gate.js';

describe('push gate', () => {
  it('lets one probe through once due, backs the next off when it stops again, and runs after an accepted push', () => {
    let now = 1_000_000;
    const changes: PushGateState[] = [];
    const gate = new PushGate({
      probeIntervalMs: 100,
      maxProbeIntervalMs: 300,
      now: () => now,
      onChange: (s) => changes.push(s),
    });
    expect(gate.admit()).toBe('push');
    gate.stop('wrong app_secret (10015)', '10015');
    expect(gate.running).toBe(false);
    expect(gate.admit()).toBe('wait');
    expect(gate.msUntilProbe()).toBe(100);
    now += 100;
    expect(gate.admit()).toBe('probe');
    expect(gate.admit()).toBe('wait');
    gate.stop('wrong app_secret (10015)', '10015');
    expect(gate.msUntilProbe()).toBe(200);
    now += 200;
    expect(gate.admit()).toBe('probe');
    gate.stop('wrong app_secret (10015)', '10015');
    expect(gate.msUntilProbe()).toBe(300);
    const stopped = gate.state;
    expect(stopped.state === 'stopped' && stopped.since.getTime()).toBe(1_000_000);
    expect(stopped.state === 'stopped' && stopped.probes).toBe(2);
    now += 300;
    expect(gate.admit()).toBe('probe');
    gate.accepted();
    expect(gate.running).toBe(true);
    expect(gate.admit()).toBe('push');
    expect(changes.map((c) => c.state)).toEqual(['stopped', 'stopped', 'stopped', 'running']);
  });

  it('probes again at once when the probe ended without a verdict on pushing', () => {
    let now = 0;
    const gate = new PushGate({ probeIntervalMs: 100, now: () => now });
    gate.stop('scope', '99991672', { probeAt: new Date(50) });
    now = 50;
    expect(gate.admit()).toBe('probe');
    gate.probeEnded();
    expect(gate.msUntilProbe()).toBe(0);
    expect(gate.admit()).toBe('probe');
  });
});
