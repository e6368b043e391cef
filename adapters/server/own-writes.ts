/**
 * Which change messages a store object caused itself. A shared store announces each write
 * with its new version; the writer's own listeners need not hear it. The announcement may
 * arrive on the listening connection before the write's reply arrives on the other, so a
 * message heard while a write of ours is in flight is judged once that write has answered.
 */
export interface OwnWrites {
  /** Run a write, noting it is in flight. */
  track<T>(write: Promise<T>): Promise<T>;
  /** A version this object read or wrote. */
  saw(version: number): void;
  /** The record is gone (versions may start again). */
  reset(): void;
  /** Call `then` unless `version` is one this object wrote or read already. */
  unlessOwn(version: number, then: () => void): void;
}

export function ownWrites(): OwnWrites {
  let seenVersion = 0;
  const inflight = new Set<Promise<unknown>>();
  return {
    track(write) {
      const settled = write.then(
        () => undefined,
        () => undefined,
      );
      inflight.add(settled);
      void settled.then(() => inflight.delete(settled));
      return write;
    },
    saw(version) {
      seenVersion = Math.max(seenVersion, version);
    },
    reset() {
      seenVersion = 0;
    },
    unlessOwn(version, then) {
      if (inflight.size === 0) {
        if (version > seenVersion) then();
        return;
      }
      void Promise.all([...inflight]).then(() => {
        if (version > seenVersion) then();
      });
    },
  };
}
