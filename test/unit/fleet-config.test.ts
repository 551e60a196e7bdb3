import { describe, expect, test } from 'bun:test';
import { loadConfig } from '../../src/config/env.ts';

describe('REDIS_URL selects the fleet mode', () => {
  test('without it nothing changes: embedded, instances from PEERS, the journal on', () => {
    const config = loadConfig({ PEERS: 'unix:/a.sock', INSTANCE_INDEX: '1' });
    expect(config.redisUrl).toBeNull();
    expect(config.instances).toBe(2);
    expect(config.instanceIndex).toBe(1);
    expect(config.journalDir).not.toBeNull();
  });

  test('with it: FLEET_SIZE instances, a distinct INSTANCE_INDEX each, no file journal (Redis is the record)', () => {
    const config = loadConfig({ REDIS_URL: 'redis://127.0.0.1:6390', FLEET_SIZE: '3', INSTANCE_INDEX: '2', JOURNAL_DIR: '/tmp/x' });
    expect(config.redisUrl).toBe('redis://127.0.0.1:6390');
    expect(config.instances).toBe(3);
    expect(config.instanceIndex).toBe(2);
    expect(config.journalDir).toBeNull();
    // The processors' concurrency is shared by the fleet.
    expect(config.maxInflightPerProcessor).toBe(Math.floor(700 / 3));
  });

  test('refused: not a redis:// URL, an index outside the fleet, PEERS as well', () => {
    expect(() => loadConfig({ REDIS_URL: 'http://x' })).toThrow(/REDIS_URL/);
    expect(() => loadConfig({ REDIS_URL: 'redis://x', FLEET_SIZE: '2', INSTANCE_INDEX: '2' })).toThrow(/INSTANCE_INDEX/);
    expect(() => loadConfig({ REDIS_URL: 'redis://x', PEERS: 'unix:/a.sock' })).toThrow(/PEERS/);
  });
});
