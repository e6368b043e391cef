/**
 * The queue of waiting requests on its own: one deadline timer for the whole queue, and
 * every waiter still leaves alone (abort, its own `maxWaitMs`) and is settled once.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Waiters } from '../../adapters/core/waiters.js';

class Timeout extends Error {
  constructor(readonly ms: number) {
    super(`waited ${ms} ms`);
  }
}

function queue(maxWaitMs: () => number = () => 1000) {
  const left: string[] = [];
  const waiters = new Waiters(
    maxWaitMs,
    (ms) => new Timeout(ms),
    (id) => left.push(id),
  );
  const ids: string[] = [];
  const wait = (signal?: AbortSignal) => {
    const promise = waiters.wait(signal, (id) => ids.push(id));
    const outcome = { value: undefined as unknown, error: undefined as unknown, settled: 0 };
    promise.then(
      (value) => {
        outcome.value = value;
        return outcome.settled++;
      },
      (error) => {
        outcome.error = error;
        return outcome.settled++;
      },
    );
    return outcome;
  };
  return { waiters, wait, ids, left };
}

describe('Waiters', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('holds one timer however many wait, and none once the queue is empty', async () => {
    const { waiters, wait } = queue();
    const outcomes = Array.from({ length: 100 }, () => wait());
    expect(waiters.size).toBe(100);
    expect(vi.getTimerCount()).toBe(1);
    expect(waiters.settleAll({ credential: { accessToken: 'a', tokenVersion: 2 } })).toBe(100);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(0);
    expect(outcomes.every((o) => o.settled === 1 && (o.value as { accessToken: string }).accessToken === 'a')).toBe(true);
  });

  it('times each waiter out at its own deadline, in order, and tells the machine', async () => {
    const { waiters, wait, ids, left } = queue();
    const first = wait();
    await vi.advanceTimersByTimeAsync(400);
    const second = wait();
    await vi.advanceTimersByTimeAsync(599);
    expect(first.settled).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(first.error).toBeInstanceOf(Timeout);
    expect(second.settled).toBe(0);
    expect(left).toEqual([ids[0]]);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(399);
    expect(second.settled).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect((second.error as Timeout).ms).toBe(1000);
    expect(left).toEqual(ids);
    expect(waiters.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('honours a shorter maxWaitMs that arrives after a longer one', async () => {
    let maxWaitMs = 1000;
    const { wait } = queue(() => maxWaitMs);
    const long = wait();
    maxWaitMs = 100;
    const short = wait();
    await vi.advanceTimersByTimeAsync(100);
    expect((short.error as Timeout).ms).toBe(100);
    expect(long.settled).toBe(0);
    await vi.advanceTimersByTimeAsync(900);
    expect((long.error as Timeout).ms).toBe(1000);
  });

  it('lets an aborted waiter leave alone; the others stay and are released once', async () => {
    const { waiters, wait, ids, left } = queue();
    const controller = new AbortController();
    const aborted = wait(controller.signal);
    const kept = wait();
    controller.abort(new Error('gone'));
    await vi.advanceTimersByTimeAsync(0);
    expect((aborted.error as Error).message).toBe('gone');
    expect(left).toEqual([ids[0]]);
    expect(waiters.size).toBe(1);
    waiters.settle(ids[1]!, { credential: { accessToken: 'b', tokenVersion: 3 } });
    waiters.settle(ids[1]!, { error: new Error('twice') });
    expect(waiters.settleAll({ error: new Error('late') })).toBe(0);
    await vi.advanceTimersByTimeAsync(2000);
    expect(kept.settled).toBe(1);
    expect((kept.value as { accessToken: string }).accessToken).toBe('b');
    expect(aborted.settled).toBe(1);
  });

  it('rejects at once with an already aborted signal, without queuing', async () => {
    const { waiters } = queue();
    const controller = new AbortController();
    controller.abort(new Error('before'));
    await expect(waiters.wait(controller.signal, () => undefined)).rejects.toThrow('before');
    expect(waiters.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
