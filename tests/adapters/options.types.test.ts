/**
 * Issue 11.9: `refresh` is required in the types wherever no `session` is given, and a call
 * that gets around the types fails at once with INVALID_OPTIONS naming it. The
 * `@ts-expect-error` lines are checked by `tsc -p .` in `npm test`: if `refresh` became
 * optional again, the directive would be unused and the type check would fail.
 */
import axios from 'axios';
import { describe, expect, it } from 'vitest';
import { attachAuth } from '../../adapters/axios/index.js';
import { createAuthFetch } from '../../adapters/fetch/index.js';
import { createSession, isAuthchartError, memoryStore } from '../../adapters/index.js';

const allowedOrigins = ['https://api.example.com'];
const refresh = async () => ({ accessToken: 'at' });

describe('refresh is required unless a session is given', () => {
  it('createAuthFetch', async () => {
    // @ts-expect-error refresh is missing and no session is given
    const call = () => createAuthFetch({ allowedOrigins });
    expect(call).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS', message: expect.stringContaining('refresh') }));
    const session = createSession({ refresh, store: memoryStore() });
    const shared = createAuthFetch({ session, allowedOrigins });
    const own = createAuthFetch({ refresh, allowedOrigins });
    await Promise.all([shared.dispose(), own.dispose(), session.dispose()]);
  });

  it('attachAuth', async () => {
    // @ts-expect-error refresh is missing and no session is given
    const call = () => attachAuth(axios.create(), { allowedOrigins });
    let error: unknown;
    try {
      call();
    } catch (caught) {
      error = caught;
    }
    expect(isAuthchartError(error, 'INVALID_OPTIONS')).toBe(true);
    expect(String((error as Error).message)).toContain('refresh');
    const session = createSession({ refresh, store: memoryStore() });
    const auth = attachAuth(axios.create(), { session, allowedOrigins });
    await Promise.all([auth.dispose(), session.dispose()]);
  });
});
